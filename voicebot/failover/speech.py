"""What a TTS owes: the text sent to it, and how much of it came back as audio.

``FallbackTTS`` keeps one ``SpeechLedger`` for its active TTS. In go the reply's start and
end frames, its clauses (the ``AggregatedTextFrame``s the session's clause cutter makes) and
``TTSSpeakFrame``s; out come the TTS's frames for them, which say how far each clause got:

- a TTS with word timestamps (Cartesia) pushes an ``AggregatedTextProgressFrame`` with each
  word it timed: the clause's ``accumulated_text`` has audio, its ``remaining_text`` does
  not (the same split Pipecat's transport uses to release words as they are heard);
- a TTS without them (Piper, the test tone) pushes the clause's announcement, its audio, and
  one ``TTSTextFrame`` once the whole clause is made; for a clause cut short the heard-text
  machinery's rule applies (``voicebot.processors.heard_text.heard_prefix``): the whole
  words within the share of the clause's expected length that has audio, at this voice's
  speech rate as measured on finished clauses.

When the TTS fails, ``replay()`` is what the next TTS must say: the clauses not yet made,
and the unmade rest of the clause in progress. Audio already made is not made again (it is
already on its way to the caller), so the caller hears each word once.

One failure shows only in the words: when a TTS's socket drops and it reconnects by itself,
Pipecat closes the contexts of the old connection and "force-completes" them, pushing the
text that never got a timestamp as one more word frame, stamped at the last word's time. If
the context's audio does not reach that far (``unvoiced``), those words were never spoken:
the group drops that frame and fails the TTS over, and the next TTS says them.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, replace

from pipecat.frames.frames import (
    AggregatedTextFrame,
    AggregatedTextProgressFrame,
    Frame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    TTSAudioRawFrame,
    TTSSpeakFrame,
    TTSTextFrame,
)

from voicebot.processors.heard_text import DEFAULT_SECS_PER_CHAR, audio_secs, heard_prefix


@dataclass
class Clause:
    """A piece of text sent to the TTS, and how far its audio got."""

    frame: AggregatedTextFrame | TTSSpeakFrame
    sent_at: float
    segment_id: int | None = None  # the id of its announcement (the frame's own, for text)
    context_id: str | None = None  # the TTS context it was spoken in
    announced: bool = False
    voiced_secs: float = 0.0  # audio made for it (a TTS without word timestamps)
    voiced_text: str | None = None  # text with audio (a TTS with word timestamps)
    remaining_text: str | None = None
    done: bool = False

    @property
    def text(self) -> str:
        return self.frame.text


@dataclass
class Marker:
    """A reply's start or end frame on its way through the TTS."""

    frame: LLMFullResponseStartFrame | LLMFullResponseEndFrame
    out: bool = False


class SpeechLedger:
    """The speech the active TTS still owes, in the order it was sent (module docstring)."""

    def __init__(self, *, secs_per_char: float = DEFAULT_SECS_PER_CHAR) -> None:
        self.items: deque[Clause | Marker] = deque()
        self.reply_open = False  # a reply's start came out and its end has not
        self.voiced = False  # audio came out since the ledger last owed nothing
        self._current: Clause | None = None  # the clause whose audio is coming out
        self._default_secs_per_char = secs_per_char
        self._measured_secs = 0.0
        self._measured_chars = 0
        # Per TTS context: its audio so far, and its first and last timed word.
        self._context_audio: dict[str, float] = {}
        self._first_pts: dict[str, int] = {}
        self._last_word: dict[str, tuple[int, str]] = {}

    # ---- in --------------------------------------------------------------------------------

    def sent(self, frame: Frame) -> Clause | None:
        """Note a frame the active TTS was given; the clause it is, if it is speech."""
        if isinstance(frame, (LLMFullResponseStartFrame, LLMFullResponseEndFrame)):
            if not frame.skip_tts:
                self.items.append(Marker(frame))
            return None
        if isinstance(frame, TTSSpeakFrame) or (
            isinstance(frame, AggregatedTextFrame)
            and not isinstance(frame, TTSTextFrame)
            and not frame.skip_tts
        ):
            if not frame.text.strip():
                return None
            if not self.owed():
                self.voiced = False
            clause = Clause(frame, time.monotonic())
            self.items.append(clause)
            return clause
        return None

    def clear(self) -> None:
        """The caller interrupted: nothing is owed any more."""
        self.items.clear()
        self._current = None
        self.reply_open = False
        self._forget_contexts()

    def _forget_contexts(self) -> None:
        self._context_audio.clear()
        self._first_pts.clear()
        self._last_word.clear()

    # ---- out -------------------------------------------------------------------------------

    def came_out(self, frame: Frame) -> bool:
        """Note a frame the active TTS pushed; whether it shows the TTS at work."""
        if isinstance(frame, TTSAudioRawFrame):
            self.voiced = True
            secs = audio_secs(frame)
            if frame.context_id is not None:
                self._context_audio[frame.context_id] = (
                    self._context_audio.get(frame.context_id, 0.0) + secs
                )
            if self._current is not None and not self._current.done:
                self._current.voiced_secs += secs
        elif isinstance(frame, AggregatedTextProgressFrame):
            self._progress(frame)
        elif isinstance(frame, TTSTextFrame):
            self._text_done(frame)
        elif isinstance(frame, AggregatedTextFrame):
            if not frame.will_be_spoken:
                return False
            self._announced(frame)
        elif isinstance(frame, LLMFullResponseStartFrame):
            self._marker_out(frame)
            self.reply_open = True
        elif isinstance(frame, LLMFullResponseEndFrame):
            self._marker_out(frame)
            self.reply_open = False
            if not self.items:
                self._forget_contexts()
        else:
            return False
        self._forget_finished()
        return True

    def _announced(self, frame: AggregatedTextFrame) -> None:
        """A clause is about to be spoken. Text clauses are announced as themselves; a speak
        frame's announcement is a new frame, matched to the first unannounced speak frame.
        Clauses passed over made nothing (no words left after the text transforms)."""
        waiting = [c for c in self.items if isinstance(c, Clause) and not c.announced]
        match = next((c for c in waiting if c.frame.id == frame.id), None)
        if match is None:
            match = next((c for c in waiting if isinstance(c.frame, TTSSpeakFrame)), None)
        if match is None:
            return
        for clause in waiting:
            if clause is match:
                break
            clause.announced = clause.done = True
        match.announced = True
        match.segment_id = frame.id
        match.context_id = frame.context_id
        self._current = match

    def _progress(self, frame: AggregatedTextProgressFrame) -> None:
        clause = self._by_segment(frame.segment_id)
        if clause is not None:
            clause.voiced_text = frame.accumulated_text
            clause.remaining_text = frame.remaining_text
            clause.done = not frame.remaining_text.strip()

    def unvoiced(self, frame: TTSTextFrame) -> bool:
        """Whether ``frame`` is force-completed text its context has no audio for (module
        docstring): stamped no later than the context's last timed word (or several words
        in one frame), and the audio after that word's start is under half of what the
        word and this text take to say."""
        context = frame.context_id
        if frame.pts is None or context is None:
            return False
        last = self._last_word.get(context)
        if (last is None or frame.pts > last[0]) and len(frame.text.split()) < 2:
            return False
        spoken_secs = (last[0] - self._first_pts[context]) / 1e9 if last is not None else 0.0
        after = self._context_audio.get(context, 0.0) - spoken_secs
        chars = len(frame.text) + (len(last[1]) + 1 if last is not None else 0)
        return after < 0.5 * chars * self.secs_per_char

    def _text_done(self, frame: TTSTextFrame) -> None:
        """A TTS without word timestamps pushes a clause's text once all of it is made; one
        with them, a frame per word as its audio comes."""
        if frame.pts is not None and frame.context_id is not None:
            self._first_pts.setdefault(frame.context_id, frame.pts)
            self._last_word[frame.context_id] = (frame.pts, frame.text)
        clause = self._by_segment(frame.segment_id)
        if clause is None or frame.pts is not None:
            return
        clause.done = True
        if clause.voiced_secs > 0:
            self._measured_secs += clause.voiced_secs
            self._measured_chars += len(clause.text)

    def _marker_out(self, frame: Frame) -> None:
        for i, item in enumerate(self.items):
            if isinstance(item, Marker) and item.frame.id == frame.id:
                item.out = True
                if isinstance(frame, LLMFullResponseEndFrame):
                    # The TTS is through the reply: what it did not make, it never will.
                    for _ in range(i + 1):
                        self.items.popleft()
                return

    def _by_segment(self, segment_id: int | None) -> Clause | None:
        if segment_id is None:
            return None
        return next(
            (c for c in self.items if isinstance(c, Clause) and c.segment_id == segment_id), None
        )

    def _forget_finished(self) -> None:
        while self.items and (
            (isinstance(self.items[0], Clause) and self.items[0].done)
            or (isinstance(self.items[0], Marker) and self.items[0].out)
        ):
            self.items.popleft()

    # ---- what is owed ----------------------------------------------------------------------

    def owed(self) -> Clause | None:
        """The oldest clause the TTS has not finished."""
        return next((c for c in self.items if isinstance(c, Clause) and not c.done), None)

    @property
    def secs_per_char(self) -> float:
        if self._measured_chars >= 20 and self._measured_secs > 0:
            return self._measured_secs / self._measured_chars
        return self._default_secs_per_char

    def split(self, clause: Clause) -> tuple[str, str]:
        """(the part with audio, the rest) of a clause the TTS did not finish."""
        if clause.voiced_text is not None and clause.remaining_text is not None:
            return clause.voiced_text.strip(), clause.remaining_text.strip()
        if clause.voiced_secs <= 0:
            return "", clause.text.strip()
        expected = len(clause.text) * self.secs_per_char
        made = heard_prefix(clause.text, clause.voiced_secs / expected if expected else 0.0)
        return made, clause.text[len(made) :].strip() if made else clause.text.strip()

    def replay(self) -> tuple[list[Frame], list[TTSTextFrame]]:
        """What the next TTS must be given, and the text frames for audio already made that
        the failed TTS will not report (a clause cut short by a TTS without word times)."""
        frames: list[Frame] = []
        heard: list[TTSTextFrame] = []
        for item in self.items:
            if isinstance(item, Marker):
                if not item.out:
                    frames.append(type(item.frame)())
                continue
            if item.done:
                continue
            made, rest = self.split(item)
            if made and item.voiced_text is None:
                heard.append(self._heard_frame(item, made))
            if rest:
                frames.append(_rest_frame(item.frame, rest))
        return frames, heard

    @staticmethod
    def _heard_frame(clause: Clause, text: str) -> TTSTextFrame:
        frame = TTSTextFrame(text, text_type=clause.frame.text_type, segment_id=clause.segment_id)
        frame.context_id = clause.context_id
        frame.append_to_context = _appends(clause.frame)
        return frame

    def restart(self, frames: list[Frame]) -> None:
        """The replayed frames are now what the (new) active TTS owes."""
        self.items.clear()
        self._current = None
        self.voiced = False
        self._forget_contexts()
        for frame in frames:
            self.sent(frame)


def _rest_frame(frame: AggregatedTextFrame | TTSSpeakFrame, text: str) -> Frame:
    """``frame`` again with only ``text`` in it (a new frame, so a new id)."""
    if isinstance(frame, TTSSpeakFrame):
        return replace(frame, text=text)
    return AggregatedTextFrame(text, frame.text_type)


def _appends(frame: AggregatedTextFrame | TTSSpeakFrame) -> bool:
    """Whether a clause's words go to the context. (A TTS marks the text frames it announces
    ``append_to_context=False``, its words carrying the flag instead; a reply's words do.)"""
    return frame.append_to_context if isinstance(frame, TTSSpeakFrame) else True
