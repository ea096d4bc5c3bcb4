"""Which words the offline Whisper is told to expect, segment by segment.

Whisper continues a transcript: text given as its prompt (the "previous text") makes the
words that follow it likelier. Two sources, chosen when the caller starts speaking:

- over the bot, its backchannel words (``BargeIn.hint_stt``): a short sound said while the
  bot talks is most often "mhm", and Whisper given one word alone mishears it ("Sure." as
  "chair"), which the barge-in policy then takes for a barge-in;
- otherwise what the caller last heard the bot say (``ConversationState.last_heard``, the
  one record of it), which the caller is answering: "the Diavola" after "the Margherita or
  the Diavola?", "Hi, what time does the library open?" after the library's greeting.
  Measured by ``benchmarks/stt_context.py`` (docs/offline.md, "The bot's words as
  Whisper's previous text").

Pipecat queues each stopped segment for one task that transcribes them in order, so each
segment's words wait here in the same order (the next segment can start before the last
one's transcription has).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Prompt:
    """Words for Whisper's prompt, and which kind they are."""

    words: str
    #: The bot's last words, which the caller's need not follow: a transcript that runs away
    #: with them is made again without (``WhisperTranscriber.transcribe(context=)``). False:
    #: the backchannel hint, always kept.
    context: bool

    def as_kwargs(self) -> dict[str, str]:
        """``WhisperTranscriber.transcribe``'s keyword for these words."""
        return {"context" if self.context else "expect": self.words}


class SegmentPrompts:
    """The words to expect for the segment under way and for each queued one."""

    def __init__(self) -> None:
        #: Backchannel words, and how to tell that the bot speaks (``expect_over_bot``).
        self.over_bot: tuple[str, Callable[[], bool]] | None = None
        #: What the caller last heard the bot say (``expect_after_bot``).
        self.bot_words: Callable[[], str] | None = None
        #: The words for the segment under way, chosen when its speech started.
        self.current: Prompt | None = None
        self._queued: deque[Prompt | None] = deque()

    def _bot_speaking(self) -> bool:
        return self.over_bot is not None and self.over_bot[1]()

    def _after_bot(self) -> Prompt | None:
        words = self.bot_words() if self.bot_words is not None else ""
        return Prompt(words, context=True) if words else None

    def speech_started(self) -> None:
        """The caller started: over the bot, its backchannel words; else its last words."""
        if self.over_bot is not None and self._bot_speaking():
            self.current = Prompt(self.over_bot[0], context=False)
        else:
            self.current = self._after_bot()

    def segment_stopped(self) -> None:
        """A segment is queued for transcription (call before Pipecat queues it). Still over
        the bot at the stop, it keeps the words its start chose; a sound that outlived the
        bot's reply (or was ruled a barge-in) gets the bot's last heard words, as anything
        else the caller says."""
        self._queued.append(self.current if self._bot_speaking() else self._after_bot())

    def next_segment(self) -> Prompt | None:
        """The words for the next queued segment (None: none queued)."""
        return self._queued.popleft() if self._queued else None
