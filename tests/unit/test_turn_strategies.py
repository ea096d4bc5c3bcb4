"""PunctuationUserTurnStopStrategy, driven through Pipecat's own UserTurnController.

The speech timeout is 30 s in most tests: a turn that ends does so on the frame that ended it,
never by waiting, so nothing here depends on how fast the machine is.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from pipecat.frames.frames import (
    Frame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.turns.user_start import VADUserTurnStartStrategy
from pipecat.turns.user_turn_controller import UserTurnController
from pipecat.turns.user_turn_strategies import UserTurnStrategies
from pipecat.utils.asyncio.task_manager import TaskManager

from voicebot.providers.turn_strategies import PunctuationUserTurnStopStrategy

LONG = 30.0


class Turns:
    """One stop strategy (``strategy``, or punctuation with ``timeout``) driven by Pipecat's
    own turn controller; counts the turns it ends."""

    def __init__(self, *, timeout: float = LONG, strategy: Any = None) -> None:
        self.strategy = strategy or PunctuationUserTurnStopStrategy(user_speech_timeout=timeout)
        self.controller = UserTurnController(
            user_turn_strategies=UserTurnStrategies(
                start=[VADUserTurnStartStrategy()], stop=[self.strategy]
            ),
            user_turn_stop_timeout=LONG,
        )
        self.stopped = 0
        self.stopped_event = asyncio.Event()

        async def on_stopped(*_args: object) -> None:
            self.stopped += 1
            self.stopped_event.set()

        self.controller.add_event_handler("on_user_turn_stopped", on_stopped)

    async def __aenter__(self) -> Turns:
        setup = SimpleNamespace(task_manager=TaskManager(), audio_in_sample_rate=16000)
        await self.controller.setup(setup)  # type: ignore[arg-type]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.controller.cleanup()

    async def send(self, *frames: Frame) -> None:
        for frame in frames:
            await self.controller.process_frame(frame)


def start() -> VADUserStartedSpeakingFrame:
    return VADUserStartedSpeakingFrame(start_secs=0.2)


def stop() -> VADUserStoppedSpeakingFrame:
    return VADUserStoppedSpeakingFrame(stop_secs=0.2)


def said(text: str) -> TranscriptionFrame:
    return TranscriptionFrame(text, "caller", "")


async def test_a_sentence_end_after_the_user_stopped_ends_the_turn_at_once() -> None:
    async with Turns() as turns:
        await turns.send(start(), stop(), said("What time do you open?"))
        assert turns.stopped == 1


async def test_without_a_sentence_end_the_turn_waits_for_more() -> None:
    async with Turns() as turns:
        await turns.send(start(), stop(), said("What time do you"))
        assert turns.stopped == 0
        await turns.send(said(" open on Monday."))
        assert turns.stopped == 1


async def test_a_sentence_end_while_the_user_still_speaks_does_not_end_the_turn() -> None:
    async with Turns() as turns:
        await turns.send(start(), said("Hello."))
        assert turns.stopped == 0
        await turns.send(stop(), start(), said(" And"))
        assert turns.stopped == 0


async def test_closing_quotes_and_brackets_after_the_mark_still_count() -> None:
    async with Turns() as turns:
        await turns.send(start(), stop(), said('He said "no."'))
        assert turns.stopped == 1


async def test_the_next_turn_starts_from_nothing() -> None:
    async with Turns() as turns:
        await turns.send(start(), stop(), said("Hello."))
        assert turns.stopped == 1
        # Text of the ended turn must not make "and" look like a sentence end.
        await turns.send(start(), stop(), said("and"))
        assert turns.stopped == 1
        await turns.send(said(" thanks!"))
        assert turns.stopped == 2


async def test_the_speech_timeout_still_ends_an_unpunctuated_turn() -> None:
    async with Turns(timeout=0.05) as turns:
        await turns.send(start(), stop(), said("um so"))
        # Timing is not the subject: a generous bound, only to fail rather than hang.
        await asyncio.wait_for(turns.stopped_event.wait(), timeout=10)
        assert turns.stopped == 1


async def test_an_ellipsis_is_not_a_sentence_end() -> None:
    """Whisper writes "..." after a half-said thought: the turn waits for more."""
    async with Turns() as turns:
        await turns.send(start(), stop(), said("He might even..."))
        assert turns.stopped == 0
        await turns.send(start(), stop(), said(" come tomorrow."))
        assert turns.stopped == 1
