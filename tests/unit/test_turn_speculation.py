"""SpeculativeUserTurnStopStrategy, driven through Pipecat's own UserTurnController.

The wrapped strategy here decides only when the test says so, so every assertion is about
the order of events, never about time.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from pipecat.frames.frames import (
    EagerEndOfTurnCancelFrame,
    Frame,
    InterimTranscriptionFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.turns.user_start import VADUserTurnStartStrategy
from pipecat.turns.user_stop import BaseUserTurnStopStrategy, TurnAnalyzerUserTurnStopStrategy
from pipecat.turns.user_turn_controller import UserTurnController
from pipecat.turns.user_turn_strategies import UserTurnStrategies
from pipecat.utils.asyncio.task_manager import TaskManager

from voicebot.providers.turn import SilenceTurn, SmartTurn
from voicebot.providers.turn_speculation import SpeculationCounts, SpeculativeUserTurnStopStrategy

LONG = 30.0


class Decides(BaseUserTurnStopStrategy):
    """Ends the turn when told to, like any detector would once it is sure."""

    async def decide(self) -> None:
        await self.trigger_user_turn_stopped()


class Turns:
    def __init__(self, *, timeout: float = LONG) -> None:
        self.inner = Decides()
        self.strategy = SpeculativeUserTurnStopStrategy(self.inner, speculation_timeout=timeout)
        self.controller = UserTurnController(
            user_turn_strategies=UserTurnStrategies(
                start=[VADUserTurnStartStrategy()], stop=[self.strategy]
            ),
            user_turn_stop_timeout=LONG,
        )
        self.events: list[tuple[str, Any]] = []

        async def inference(_c: object, _s: object, speculation: Any) -> None:
            self.events.append(
                ("speculate" if speculation else "infer", getattr(speculation, "text", None))
            )

        async def cancelled(_c: object) -> None:
            self.events.append(("withdraw", None))

        async def stopped(_c: object, _s: object, params: Any) -> None:
            self.events.append(("stop", params.confirms_speculation))

        self.controller.add_event_handler("on_user_turn_inference_triggered", inference)
        self.controller.add_event_handler("on_user_turn_speculation_cancelled", cancelled)
        self.controller.add_event_handler("on_user_turn_stopped", stopped)

    async def __aenter__(self) -> Turns:
        await self.controller.setup(SimpleNamespace(task_manager=TaskManager()))  # type: ignore[arg-type]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.controller.cleanup()

    async def send(self, *frames: Frame) -> None:
        for frame in frames:
            await self.controller.process_frame(frame)


def start() -> VADUserStartedSpeakingFrame:
    return VADUserStartedSpeakingFrame(start_secs=0.2)


def pause() -> VADUserStoppedSpeakingFrame:
    return VADUserStoppedSpeakingFrame(stop_secs=0.2)


def said(text: str) -> TranscriptionFrame:
    return TranscriptionFrame(text, "caller", "")


async def test_the_reply_starts_at_the_pause_and_the_decision_only_confirms_it() -> None:
    async with Turns() as turns:
        await turns.send(start(), pause(), said("What time do you open?"))
        assert turns.events == [("speculate", "What time do you open?")]
        await turns.inner.decide()
        # No second inference: the reply already made is released by the turn's end.
        assert turns.events == [("speculate", "What time do you open?"), ("stop", True)]
        assert turns.strategy.last_turn == SpeculationCounts(started=1, confirmed=1)
        assert turns.strategy.total == SpeculationCounts(started=1, confirmed=1)


async def test_nothing_is_speculated_while_the_caller_speaks_or_before_any_words() -> None:
    async with Turns() as turns:
        await turns.send(start(), said("What time"))  # a transcript mid-speech: no pause yet
        await turns.send(pause())
        assert turns.events == [("speculate", "What time")]
    async with Turns() as turns:
        await turns.send(start(), pause())  # a pause with no words yet
        assert turns.events == []


async def test_the_caller_going_on_withdraws_it_and_the_turn_is_answered_as_usual() -> None:
    async with Turns() as turns:
        await turns.send(start(), pause(), said("What time do you"))
        await turns.send(start())  # the VAD hears the caller again
        assert turns.events[-1] == ("withdraw", None)
        await turns.send(said("open on Sundays?"), pause())
        assert turns.events[-1] == ("speculate", "What time do you open on Sundays?")
        await turns.inner.decide()
        assert turns.events[-1] == ("stop", True)
        assert turns.strategy.last_turn == SpeculationCounts(started=2, confirmed=1, withdrawn=1)


async def test_new_words_after_the_pause_replace_the_speculation() -> None:
    async with Turns() as turns:
        await turns.send(start(), pause(), said("Book a"))
        assert turns.events == [("speculate", "Book a")]
        await turns.send(said("table."))
        assert turns.events[1:] == [("withdraw", None), ("speculate", "Book a table.")]
        # An interim transcript (words not final yet) starts nothing: the aggregator writes
        # only final ones to the context.
        await turns.send(InterimTranscriptionFrame("for two", "caller", ""))
        assert len(turns.events) == 3


async def test_words_that_changed_when_the_turn_ends_get_a_fresh_answer() -> None:
    async with Turns() as turns:
        await turns.send(start(), pause(), said("Hello"))
        # A transcript that arrives as the detector decides (no pause between them).
        turns.strategy._finals.append("and goodbye")
        await turns.inner.decide()
        assert turns.events == [
            ("speculate", "Hello"),
            ("withdraw", None),
            ("infer", None),
            ("stop", False),
        ]


async def test_a_reply_pipecat_withdrew_for_a_tool_is_not_speculated_again() -> None:
    async with Turns() as turns:
        await turns.send(start(), pause(), said("Book me for Tuesday."))
        await turns.send(EagerEndOfTurnCancelFrame())  # the LLM wanted a tool: Pipecat's own
        await turns.send(said(""))
        assert turns.events == [("speculate", "Book me for Tuesday.")]
        await turns.inner.decide()
        # The real turn end runs the inference (and the tool) for real.
        assert turns.events[1:] == [("infer", None), ("stop", False)]


async def test_an_unconfirmed_speculation_is_withdrawn_after_its_timeout() -> None:
    import asyncio

    async with Turns(timeout=0.01) as turns:
        await turns.send(start(), pause(), said("Hmm"))
        for _ in range(1000):  # bounded: fails rather than hangs
            if ("withdraw", None) in turns.events:
                break
            await asyncio.sleep(0.01)
        assert turns.events == [("speculate", "Hmm"), ("withdraw", None)]
        await turns.inner.decide()
        assert turns.events[2:] == [("infer", None), ("stop", False)]


async def test_a_turn_ended_by_the_watchdog_withdraws_the_speculation() -> None:
    async with Turns() as turns:
        await turns.send(start(), pause(), said("Hmm"))
        await turns.controller._trigger_user_turn_stop(
            None, SimpleNamespace(enable_user_speaking_frames=True, confirms_speculation=False)
        )
        assert ("withdraw", None) in turns.events


def test_turn_providers_wrap_their_stop_strategy_only_when_asked() -> None:
    from voicebot.providers.base import BuildContext

    ctx = BuildContext(audio_in_sample_rate=16000, audio_out_sample_rate=24000)
    plain = SilenceTurn().strategies(ctx).stop or []
    assert not any(isinstance(s, SpeculativeUserTurnStopStrategy) for s in plain)
    wrapped = SmartTurn(speculate=True).strategies(ctx).stop or []
    assert len(wrapped) == 1 and isinstance(wrapped[0], SpeculativeUserTurnStopStrategy)
    assert isinstance(wrapped[0].inner, TurnAnalyzerUserTurnStopStrategy)  # SmartTurn's own
