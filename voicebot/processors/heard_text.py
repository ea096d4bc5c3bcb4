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

Text with no audio at all never counts as spoken. When a TTS context ends, Pipecat emits a
``TTSTextFrame`` for whatever text it has not yet passed on (for vendors that drop word
timestamps), even when the context made no audio: a TTS that is down or refused its key
would otherwise have its greeting and every reply recorded as said. ``HeardTextSynthesis``
holds a context's text until that context's first audio and drops it if the context ends
without any.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from loguru import logger
from pipecat.frames.frames import (
    AggregatedTextFrame,
    CancelFrame,
    EndFrame,
    Frame,
    InterruptionFrame,
    LLMAssistantPushAggregationFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    OutputAudioRawFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from voicebot.pipecat_compat import SystemTTSTextFrame

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


def audio_secs(frame: OutputAudioRawFrame) -> float:
    """Seconds of 16-bit PCM in an audio frame."""
    if frame.sample_rate <= 0 or frame.num_channels <= 0:
        return 0.0
    return len(frame.audio) / (2 * frame.num_channels * frame.sample_rate)


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


class HeardText:
    """State shared by the two processors around one output transport."""

    def __init__(
        self,
        *,
        cut_marker: str = CUT_MARKER,
        secs_per_char: float = DEFAULT_SECS_PER_CHAR,
    ) -> None:
        self.cut_marker = cut_marker
        self.default_secs_per_char = secs_per_char
        self.synthesis = HeardTextSynthesis(self)
        self.playback = HeardTextPlayback(self)
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


class HeardTextSynthesis(FrameProcessor):
    """Before the output transport: how long each clause's audio is (see ``HeardText``).

    Direct mode: it only counts, in the pushing task, and adds no queue hop.
    """

    def __init__(self, heard: HeardText) -> None:
        super().__init__(name="HeardTextSynthesis", enable_direct_mode=True)
        self._heard = heard
        self._current: int | None = None
        self._voiced: OrderedDict[str, None] = OrderedDict()  # contexts that made audio
        self._held: list[TTSTextFrame] = []  # text of a context with no audio yet
        self._held_context: str | None = None

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction == FrameDirection.DOWNSTREAM:
            if self._unvoiced_text(frame):
                return  # held until its context's audio comes, dropped if none does
            if isinstance(frame, TTSAudioRawFrame) and frame.context_id is not None:
                await self._voiced_context(frame.context_id)
            elif self._held and _ends_context(frame, self._held_context):
                self._drop_held()
            if _is_announcement(frame):
                self._current = frame.id
                self._heard.clause_announced(frame.id)
            elif isinstance(frame, TTSAudioRawFrame) and self._current is not None:
                self._heard.clause_audio(self._current, audio_secs(frame))
            elif (
                isinstance(frame, TTSTextFrame)
                and frame.pts is None
                and frame.segment_id is not None
            ):
                self._heard.clause_synthesized(frame.segment_id, frame.text)
        await self.push_frame(frame, direction)

    def _unvoiced_text(self, frame: Frame) -> bool:
        """Hold ``frame`` if it is the text of a TTS context that has made no audio yet."""
        if (
            not isinstance(frame, TTSTextFrame)
            or isinstance(frame, HeardTextFrame)
            or frame.context_id is None
            or frame.context_id in self._voiced
        ):
            return False
        if self._held and self._held_context != frame.context_id:
            self._drop_held()
        self._held_context = frame.context_id
        self._held.append(frame)
        return True

    async def _voiced_context(self, context_id: str) -> None:
        """A context's audio has come: its held text goes on, ahead of the audio."""
        if context_id not in self._voiced:
            self._voiced[context_id] = None
            while len(self._voiced) > _MAX_TRACKED:
                self._voiced.popitem(last=False)
        if self._held and self._held_context == context_id:
            held, self._held, self._held_context = self._held, [], None
            for text in held:
                await self.push_frame(text)
        elif self._held:
            self._drop_held()

    def _drop_held(self) -> None:
        text = " ".join(f.text for f in self._held).strip()
        if text:
            logger.warning(f"{self}: no audio was made for [{text}]; not recorded as spoken")
        self._held, self._held_context = [], None


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

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction == FrameDirection.DOWNSTREAM:
            if isinstance(frame, InterruptionFrame):
                for heard in self._interrupted():
                    await self.push_frame(heard)
            else:
                self._played(frame)
        await self.push_frame(frame, direction)

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
        elif _is_announcement(frame):
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

    def _interrupted(self) -> list[Frame]:
        """The frames that put the heard part of the cut reply into the aggregation."""
        playing = self._playing
        if playing is not None and not playing.interruptible:
            return []  # the transport keeps playing it; its text arrives as usual
        frames: list[Frame] = []
        if self._reply_open and self._append:
            prefix = ""
            text_type = playing.text_type if playing is not None else "sentence"
            if playing is not None and not playing.word_timed:
                # The chunk last released may still be playing: count only those before it.
                heard_secs = max(0.0, playing.played_secs - playing.last_chunk_secs)
                total = self._heard.total_secs(playing.segment_id, playing.text)
                prefix = heard_prefix(playing.text, heard_secs / total if total > 0 else 0.0)
            if prefix or self._reply_heard:
                text = f"{prefix} {self._heard.cut_marker}".strip()
                frames.append(HeardTextFrame(text, text_type=text_type))
        self._close_reply()
        return frames


def _ends_context(frame: Frame, context_id: str | None) -> bool:
    """Whether ``frame`` shows that TTS context ``context_id`` is over (or was cut off)."""
    if isinstance(frame, (TTSStartedFrame, TTSStoppedFrame)):
        return frame.context_id != context_id or isinstance(frame, TTSStoppedFrame)
    return isinstance(
        frame,
        (
            LLMFullResponseStartFrame,
            LLMFullResponseEndFrame,
            InterruptionFrame,
            EndFrame,
            CancelFrame,
        ),
    )


def _is_announcement(frame: Frame) -> bool:
    """The TTS's "this clause is about to be spoken" frame, which precedes its audio."""
    return (
        isinstance(frame, AggregatedTextFrame)
        and not isinstance(frame, TTSTextFrame)
        and frame.will_be_spoken
    )


def track_heard_text(
    output: FrameProcessor,
    *,
    cut_marker: str = CUT_MARKER,
    secs_per_char: float = DEFAULT_SECS_PER_CHAR,
) -> list[FrameProcessor]:
    """The output transport with a ``HeardText`` around it; splice into the pipeline as
    ``*track_heard_text(transport.output())``."""
    return HeardText(cut_marker=cut_marker, secs_per_char=secs_per_char).around(output)
