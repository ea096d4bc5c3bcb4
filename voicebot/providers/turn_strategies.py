"""Pipecat turn-stop strategies of voicebot's own (the providers in ``turn.py`` pick them).

Built on Pipecat's public strategy API only (``process_frame``, the turn-boundary callbacks,
``trigger_user_turn_stopped``): the state the decision needs is kept here, from the frames,
rather than read from ``SpeechTimeoutUserTurnStopStrategy``'s private fields.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Protocol

from loguru import logger
from pipecat.frames.frames import (
    Frame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.turns.types import ProcessFrameResult
from pipecat.turns.user_stop import (
    SpeechTimeoutUserTurnStopStrategy,
    TurnAnalyzerUserTurnStopStrategy,
)

SENTENCE_END = (".", "?", "!")


def ends_sentence(text: str) -> bool:
    """Whether ``text`` ends a sentence: ``.``, ``?`` or ``!``, closing quotes aside, but not
    ``...``, which Whisper writes after a half-said thought ("He might even..."): on spliced
    mid-sentence pauses, counting it cut off 65 % of them instead of 53 %
    (``python -m benchmarks.turn_fallback``)."""
    end = text.rstrip().rstrip("\"')")
    return end.endswith(SENTENCE_END) and not end.endswith(("...", "…"))


class PunctuationUserTurnStopStrategy(SpeechTimeoutUserTurnStopStrategy):
    """``SpeechTimeoutUserTurnStopStrategy`` that skips the wait when the user has stopped and
    the transcript so far ends a sentence.

    Otherwise the speech timeout decides, as in Pipecat. Ending the turn here makes Pipecat's
    turn controller call ``handle_user_turn_stopped`` on every stop strategy, which cancels
    the timers this class inherits.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Prefixed so they cannot shadow the parent's private fields of similar meaning.
        self._punct_said = ""  # this turn's transcripts
        self._punct_speaking = False  # the VAD hears the user (kept across a turn start)
        self._punct_paused = False  # the VAD reported a stop in this turn

    async def handle_user_turn_started(self) -> None:
        await super().handle_user_turn_started()
        self._punct_said = ""
        self._punct_paused = False

    async def handle_user_turn_stopped(self) -> None:
        await super().handle_user_turn_stopped()
        self._punct_said = ""
        self._punct_speaking = self._punct_paused = False

    async def process_frame(self, frame: Frame) -> ProcessFrameResult:
        if isinstance(frame, VADUserStartedSpeakingFrame):
            self._punct_speaking, self._punct_paused = True, False
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            self._punct_speaking, self._punct_paused = False, True
        elif isinstance(frame, TranscriptionFrame):
            # Before the parent sees it: if the parent ends the turn on this frame, the
            # turn-stopped callback clears the text and nothing is triggered twice.
            self._punct_said += frame.text
        result = await super().process_frame(frame)
        if (
            isinstance(frame, TranscriptionFrame)
            and self._punct_paused
            and not self._punct_speaking
            and ends_sentence(self._punct_said)
        ):
            await self.trigger_user_turn_stopped()
        return result


class WordsCheck(Protocol):
    """What ``SmartTurnStopStrategy`` asks the words (``voicebot.providers.local.turn_text``'s
    ``WordsEndTurn``): whether they end a sentence, and how long to wait if they do."""

    wait_secs: float

    async def ends_turn(
        self, text: str, *, after: str | None = None, system_prompt: str | None = None
    ) -> bool: ...


class SmartTurnStopStrategy(TurnAnalyzerUserTurnStopStrategy):
    """Pipecat's turn-analyzer strategy whose analyzer also hears the caller's pauses, and
    whose "not yet" the words can overrule.

    The session's ``PauseWatch`` calls ``caller_paused`` ``early_secs`` into a pause (it
    finds the strategy among the turn's stop strategies); the analyzer (built by
    ``voicebot.providers.onnx_sessions.smart_turn_analyzer``) starts its model there, so at
    the VAD's stop the verdict is ready or under way instead of starting then. ``early_secs``
    None: the model runs at the stop only, as in Pipecat.

    ``words``: when the analyzer says "not yet" at a VAD stop, the turn's transcript so far
    is asked whether it ends a sentence when a transcript arrives after that stop and the
    turn has as many transcripts as pieces of speech (a segmented STT such as Whisper sends
    one per piece; earlier pieces' words alone must not end a turn at a later pause); if
    so, the turn ends ``words.wait_secs`` after the stop unless the caller speaks first,
    instead of at the analyzer's fallback (docs/offline.md, "The words' opinion on the
    turn's end"). A streaming STT whose final words all came before the stop is not asked:
    the fallback decides, as without the check.
    """

    def __init__(
        self,
        *,
        turn_analyzer: Any,
        early_secs: float | None,
        words: WordsCheck | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(turn_analyzer=turn_analyzer, **kwargs)
        self.turn_analyzer = turn_analyzer
        self.early_secs = early_secs
        self.words = words
        # Prefixed so they cannot shadow the parent's private fields of similar meaning.
        self._words_said = ""  # this turn's transcripts
        self._words_pieces = 0  # pieces of speech the VAD heard start in this turn
        self._words_heard = 0  # transcripts in this turn
        self._words_speaking = False  # the VAD hears the caller (kept across turns)
        self._words_not_yet_at: float | None = None  # monotonic time of a "not yet" stop
        self._words_task: asyncio.Task[None] | None = None
        #: Turns the words ended before the fallback (tests, benchmarks).
        self.words_ended = 0
        #: What the caller last heard the bot say (the session sets it from its
        #: ``ConversationState``): the words are judged as an answer to it.
        self.bot_words: Callable[[], str] | None = None
        #: The call's system prompt as it is now (the session sets it from the LLM's
        #: settings); None, or a None from it: the one the check was built with.
        self.system_prompt: Callable[[], str | None] | None = None

    def caller_paused(self, stop_in_secs: float) -> None:
        self.turn_analyzer.caller_paused(stop_in_secs)

    def caller_resumed(self) -> None:
        self.turn_analyzer.caller_resumed()

    async def handle_user_turn_started(self) -> None:
        await super().handle_user_turn_started()
        await self._words_forget(text=True)

    async def handle_user_turn_stopped(self) -> None:
        await super().handle_user_turn_stopped()
        await self._words_forget(text=True)

    async def cleanup(self) -> None:
        await self._words_forget(text=True)
        await super().cleanup()

    async def process_frame(self, frame: Frame) -> ProcessFrameResult:
        stopped_at = time.monotonic()  # before the analyzer's verdict: the wait counts from here
        if isinstance(frame, VADUserStartedSpeakingFrame):
            await self._words_forget(text=False)
            self._words_speaking = True
            self._words_pieces += 1
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            self._words_speaking = False
        elif isinstance(frame, TranscriptionFrame):
            self._words_said = f"{self._words_said} {frame.text}".strip()
            self._words_heard += 1
        result = await super().process_frame(frame)
        if self.words is None:
            return result
        if isinstance(frame, VADUserStoppedSpeakingFrame):
            from pipecat.audio.turn.base_turn_analyzer import EndOfTurnState

            if getattr(self.turn_analyzer, "last_state", None) == EndOfTurnState.INCOMPLETE:
                self._words_not_yet_at = stopped_at  # the piece's transcript will ask
        elif isinstance(frame, TranscriptionFrame) and self._words_not_yet_at is not None:
            self._words_ask()
        return result

    def _words_ask(self) -> None:
        if self._words_heard < self._words_pieces:
            return  # a piece's transcript is still to come (this one is an earlier piece's)
        if self._words_task is not None:
            self._words_task.cancel()
        self._words_task = self.task_manager.create_task(
            self._words_decide(self._words_said), f"{self}::words"
        )

    async def _words_decide(self, text: str) -> None:
        assert self.words is not None
        try:
            after = self.bot_words() if self.bot_words is not None else None
            prompt = self.system_prompt() if self.system_prompt is not None else None
            ends = await self.words.ends_turn(text, after=after, system_prompt=prompt)
        except Exception as e:  # a failing check leaves the turn to the analyzer
            logger.warning(f"turn: the words check failed ({e!r}); smart-turn decides")
            return
        logger.debug(f"turn: smart-turn said not yet; the words {'end' if ends else 'go on'}")
        if not ends or self._words_not_yet_at is None:
            return
        await asyncio.sleep(
            max(0.0, self._words_not_yet_at + self.words.wait_secs - time.monotonic())
        )
        if self._words_not_yet_at is not None:
            self._words_task = None  # ending the turn cancels a task still set: not this one
            self._words_not_yet_at = None
            self.words_ended += 1
            await self.trigger_user_turn_stopped()

    async def _words_forget(self, *, text: bool) -> None:
        self._words_not_yet_at = None
        if text:  # a turn boundary: a piece under way belongs to the new turn
            self._words_said = ""
            self._words_heard = 0
            self._words_pieces = 1 if self._words_speaking else 0
        task, self._words_task = self._words_task, None
        if task is not None and task is not asyncio.current_task():
            await self.task_manager.cancel_task(task)
