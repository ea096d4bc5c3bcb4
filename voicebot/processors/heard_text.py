"""After a barge-in, the assistant message holds what the caller heard, not what was written.

What Pipecat 1.14 keeps on an interruption depends on the TTS:

- With word timestamps (Cartesia, ...) each word is a ``TTSTextFrame`` with a ``pts``; the
  output transport releases it when its audio is due and drops the rest on an interruption,
  so the assistant aggregator already holds only words whose audio played.
- Without them (Piper, the test tone), one ``TTSTextFrame`` per sentence or clause follows
  that clause's audio through the transport. An interruption drops the clause being spoken
  as a whole: the caller heard half of it, the model is told none of it.

``track_heard_text(transport.output())`` puts two small processors around the output
transport. The one before it (``HeardTextSynthesis``) adds up each clause's audio as the
TTS makes it; the one after (``HeardTextPlayback``) adds up the audio the transport has
played. On an interruption the playback side maps the fraction of the clause's audio that
played onto its characters, keeps the whole words inside it (``heard_prefix``) and hands
them to the assistant aggregator ahead of the interruption, so they land in the message the
interruption commits. Either way, a reply that was cut off ends with ``CUT_MARKER``
(" —", the way dialogue marks a speaker who was interrupted), so the model knows the caller
did not hear the rest and does not build on it. The conversation state's ``Turn.heard``
(``voicebot.conversation``) takes the result from the message the aggregator commits; the
measuring stays here, at the output transport.

On the phone the carrier buffers the bot's audio before playing it, so what the transport has
released is more than the caller has heard. Where the carrier echoes playback marks
(``voicebot.processors.playback_marks``), the playback side holds back what the assistant
aggregator would commit (each clause's text, the end of a reply) until the carrier has
confirmed the audio before it, and on an interruption maps the confirmed audio, not the
released audio, onto the clause's characters the same way: the context then holds no word
whose audio the carrier had not confirmed. Without marks the estimate above stays.

Text with no audio at all never counts as spoken. When a TTS context ends, Pipecat emits a
``TTSTextFrame`` for whatever text it has not yet passed on (for vendors that drop word
timestamps), even when the context made no audio: a TTS that is down or refused its key
would otherwise have its greeting and every reply recorded as said. ``HeardTextSynthesis``
holds a context's text until that context's first audio and drops it if the context ends
without any.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass

from pipecat.frames.frames import (
    AggregatedTextFrame,
    CancelFrame,
    EndFrame,
    Frame,
    InterruptionFrame,
    LLMAssistantPushAggregationFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    StartFrame,
    SystemFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSTextFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from voicebot.pipecat_compat import SystemTTSTextFrame
from voicebot.processors.heard_synthesis import HeardTextSynthesis, audio_secs, is_announcement
from voicebot.processors.playback_marks import (
    ConfirmedPlayback,
    Cut,
    PlaybackMarks,
    playback_marks,
)

#: Appended (after a space) to a reply the caller cut off: an em dash, the usual mark of
#: interrupted speech in written dialogue, which models read as "stopped mid-sentence".
CUT_MARKER = "—"
#: Speech rate assumed for a clause whose synthesis has not finished (about 15 characters a
#: second), until clauses of this session have measured the voice's own rate.
DEFAULT_SECS_PER_CHAR = 0.065
_MAX_TRACKED = 64  # clauses remembered between synthesis and playback


def heard_prefix(text: str, fraction: float) -> str:
    """The whole words of ``text`` within its first ``fraction`` (0-1), by characters.

    Speech time is taken as proportional to characters (spaces and punctuation included);
    a word counts only once all of it fits, so a word cut in half is left out.
    """
    limit = max(0.0, min(1.0, fraction)) * len(text)
    end = 0
    pos = 0
    for word in text.split():
        start = text.index(word, pos)
        pos = start + len(word)
        if pos > limit + 1e-9:
            break
        end = pos
    return text[:end].strip()


@dataclass
class HeardTextFrame(SystemTTSTextFrame):
    """The heard part of an interrupted reply (and the cut marker).

    A system frame so that it reaches the assistant aggregator ahead of the
    ``InterruptionFrame`` pushed right after it and joins the message that frame commits;
    a data frame would be dropped from the aggregator's queue by that very interruption.
    """


@dataclass
class _Synthesis:
    """One clause's audio as the TTS made it."""

    secs: float = 0.0
    done: bool = False


@dataclass
class _Playing:
    """The clause the transport is playing."""

    segment_id: int
    text: str
    text_type: str
    interruptible: bool
    word_timed: bool  # the TTS times each word (the transport releases them as heard)
    played_secs: float = 0.0
    last_chunk_secs: float = 0.0
    start_pos: float | None = None  # where its audio starts in the stream (with marks)


class HeardText:
    """State shared by the two processors around one output transport."""

    def __init__(
        self,
        *,
        cut_marker: str = CUT_MARKER,
        secs_per_char: float = DEFAULT_SECS_PER_CHAR,
        marks: PlaybackMarks | None = None,
    ) -> None:
        self.cut_marker = cut_marker
        self.default_secs_per_char = secs_per_char
        self.synthesis = HeardTextSynthesis(self)
        self.playback = HeardTextPlayback(self)
        #: With carrier marks: the frames held until their audio is confirmed as played.
        self.gate = ConfirmedPlayback(marks, self.playback.release) if marks else None
        self._clauses: OrderedDict[int, _Synthesis] = OrderedDict()
        self._measured_secs = 0.0
        self._measured_chars = 0

    def around(self, output: FrameProcessor) -> list[FrameProcessor]:
        """``[synthesis, output, playback]``, to splice into a pipeline."""
        return [self.synthesis, output, self.playback]

    @property
    def secs_per_char(self) -> float:
        """This voice's speech rate, as measured on finished clauses."""
        if self._measured_chars >= 20 and self._measured_secs > 0:
            return self._measured_secs / self._measured_chars
        return self.default_secs_per_char

    def total_secs(self, segment_id: int, text: str) -> float:
        """A clause's audio length: measured if synthesized, else at least an estimate."""
        clause = self._clauses.get(segment_id)
        if clause is not None and clause.done and clause.secs > 0:
            return clause.secs
        made = clause.secs if clause is not None else 0.0
        return max(made, len(text) * self.secs_per_char)

    # ---- fed by HeardTextSynthesis ---------------------------------------------------------

    def clause_announced(self, segment_id: int) -> None:
        self._clauses[segment_id] = _Synthesis()
        while len(self._clauses) > _MAX_TRACKED:
            self._clauses.popitem(last=False)

    def clause_audio(self, segment_id: int, secs: float) -> None:
        clause = self._clauses.get(segment_id)
        if clause is not None and not clause.done:
            clause.secs += secs

    def clause_synthesized(self, segment_id: int, text: str) -> None:
        clause = self._clauses.get(segment_id)
        if clause is not None and not clause.done:
            clause.done = True
            if clause.secs > 0:
                self._measured_secs += clause.secs
                self._measured_chars += len(text)

    def forget(self, segment_id: int) -> None:
        self._clauses.pop(segment_id, None)


class HeardTextPlayback(FrameProcessor):
    """After the output transport: what has been played, and on an interruption, what of
    the clause being spoken the caller heard (see ``HeardText``).

    Direct mode: audio is counted the moment the transport releases it, and the
    interruption is handled before anything queued behind it could be dropped.
    """

    def __init__(self, heard: HeardText) -> None:
        super().__init__(name="HeardTextPlayback", enable_direct_mode=True)
        self._heard = heard
        self._playing: _Playing | None = None
        self._reply_open = False
        self._reply_heard = False  # the caller heard part of the current reply
        self._append = True  # the current reply's text goes to the context
        self._expiry: asyncio.Task[None] | None = None

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        gate = self._heard.gate
        if direction == FrameDirection.DOWNSTREAM and gate is not None:
            await self._confirmed(frame, gate)
            return
        if direction == FrameDirection.DOWNSTREAM:
            await self._estimated(frame)
            return
        await self.push_frame(frame, direction)

    async def _estimated(self, frame: Frame) -> None:
        """What the transport released is taken as played."""
        if isinstance(frame, InterruptionFrame):
            for heard in self._interrupted():
                await self.push_frame(heard)
        else:
            self._played(frame)
        await self.push_frame(frame)

    async def _confirmed(self, frame: Frame, gate: ConfirmedPlayback) -> None:
        """With carrier marks: a frame goes on once the audio before it was played."""
        if isinstance(frame, StartFrame) and self._expiry is None:
            self._expiry = self.create_task(gate.run(), name=f"{self}::marks")
        async with gate.lock:
            if isinstance(frame, TTSAudioRawFrame):
                gate.audio(audio_secs(frame))
            elif is_announcement(frame):
                assert isinstance(frame, AggregatedTextFrame)
                gate.clause_passed(frame.id, frame.context_id)
            if not gate.active:  # the carrier echoes no marks
                await self._estimated(frame)
            elif isinstance(frame, InterruptionFrame):
                await self._confirmed_interruption(frame, gate)
            elif isinstance(frame, (EndFrame, CancelFrame)):
                await gate.flush()  # no more marks will come
                await self._estimated(frame)
            elif isinstance(frame, (SystemFrame, TTSAudioRawFrame)) or not await gate.hold(
                frame, gate.needed(frame, self._heard.total_secs)
            ):
                await self._estimated(frame)

    async def release(self, frame: Frame, played: bool) -> None:
        """A held frame goes on: its audio was played (``played``), cleared, or given up on."""
        self._played(frame)
        await self.push_frame(frame)

    async def _confirmed_interruption(self, frame: Frame, gate: ConfirmedPlayback) -> None:
        # Frames confirmed but not yet released become heard text: pushed as frames they
        # would be dropped from the aggregator's queue by the interruption right behind.
        carry = []
        for played in gate.take_played():
            self._played(played)
            if isinstance(played, TTSTextFrame) and played.append_to_context and played.text:
                carry.append(played.text.strip())
        reply_open = self._reply_open and self._append
        heard = self._interrupted(confirmed=gate.played_pos, carry=carry)
        if reply_open:
            text = next((f.text for f in heard if isinstance(f, HeardTextFrame)), "")
            gate.marks.cuts.append(Cut(gate.marks.played, gate.played_pos, text))
        kept = gate.interrupted()
        for heard_frame in heard:
            await self.push_frame(heard_frame)
        await self.push_frame(frame)
        for uninterruptible in kept:
            self._played(uninterruptible)
            await self.push_frame(uninterruptible)

    async def cleanup(self) -> None:
        await super().cleanup()
        if self._expiry is not None:
            await self.cancel_task(self._expiry)
            self._expiry = None

    def _open_reply(self) -> None:
        if not self._reply_open:
            self._reply_open = True
            self._reply_heard = False

    def _close_reply(self) -> None:
        self._reply_open = self._reply_heard = False
        self._append = True
        if self._playing is not None:
            self._heard.forget(self._playing.segment_id)
            self._playing = None

    def _played(self, frame: Frame) -> None:
        if isinstance(frame, LLMFullResponseStartFrame):
            self._close_reply()
            self._open_reply()
        elif isinstance(frame, TTSStartedFrame):
            self._open_reply()
            self._append = frame.append_to_context
        elif isinstance(frame, (LLMFullResponseEndFrame, LLMAssistantPushAggregationFrame)):
            self._close_reply()
        elif is_announcement(frame):
            assert isinstance(frame, AggregatedTextFrame)
            self._open_reply()
            if self._playing is not None:
                self._heard.forget(self._playing.segment_id)
            self._playing = _Playing(
                segment_id=frame.id,
                text=frame.text,
                text_type=str(frame.text_type),
                interruptible=frame.interruptible,
                word_timed=frame.pts is not None,
                start_pos=gate.start_of(frame.id) if (gate := self._heard.gate) else None,
            )
        elif isinstance(frame, TTSAudioRawFrame):
            playing = self._playing
            if playing is not None and not playing.word_timed:
                secs = audio_secs(frame)
                playing.played_secs += secs
                playing.last_chunk_secs = secs
        elif isinstance(frame, TTSTextFrame) and frame.append_to_context:
            self._reply_heard = True  # a clause played to its end, or a timed word was heard
            playing = self._playing
            if playing is not None and frame.pts is None and frame.segment_id == playing.segment_id:
                self._heard.forget(playing.segment_id)
                self._playing = None

    def _interrupted(
        self, *, confirmed: float | None = None, carry: list[str] | None = None
    ) -> list[Frame]:
        """The frames that put the heard part of the cut reply into the aggregation.

        ``confirmed``: the stream position the carrier confirmed as played (with marks);
        ``carry``: text of clauses confirmed but not yet passed on, which goes first.
        """
        playing = self._playing
        if playing is not None and not playing.interruptible:
            return []  # the transport keeps playing it; its text arrives as usual
        frames: list[Frame] = []
        words = list(carry or [])
        if self._reply_open and self._append:
            text_type = playing.text_type if playing is not None else "sentence"
            if playing is not None and not playing.word_timed:
                gate = self._heard.gate
                if gate is not None and playing.start_pos is not None:  # by stream position
                    if confirmed is None:  # the carrier echoes none: what was released
                        confirmed = gate.pos - gate.last_chunk_secs
                    heard_secs = confirmed - playing.start_pos
                else:
                    # The chunk last released may still be playing: count those before it.
                    heard_secs = max(0.0, playing.played_secs - playing.last_chunk_secs)
                total = self._heard.total_secs(playing.segment_id, playing.text)
                words.append(heard_prefix(playing.text, heard_secs / total if total > 0 else 0))
            heard = " ".join(w for w in words if w)
            if heard or self._reply_heard:
                text = f"{heard} {self._heard.cut_marker}".strip()
                frames.append(HeardTextFrame(text, text_type=text_type))
        elif words:  # a reply confirmed to its end just before the interruption
            frames.append(HeardTextFrame(" ".join(words), text_type="sentence"))
        self._close_reply()
        return frames


def track_heard_text(
    output: FrameProcessor,
    *,
    cut_marker: str = CUT_MARKER,
    secs_per_char: float = DEFAULT_SECS_PER_CHAR,
) -> list[FrameProcessor]:
    """The output transport with a ``HeardText`` around it; splice into the pipeline as
    ``*track_heard_text(transport.output())``. A phone transport whose carrier echoes
    playback marks has attached them to its output (``playback_marks``): they are used."""
    heard = HeardText(
        cut_marker=cut_marker, secs_per_char=secs_per_char, marks=playback_marks(output)
    )
    return heard.around(output)
