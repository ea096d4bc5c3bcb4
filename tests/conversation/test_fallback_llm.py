"""``llm=[a, b]`` on whole calls with fake LLMs that fail on cue, on the virtual clock: the
budgets are the subject here, and a virtual clock makes every wait exactly what the fakes
and the policy say (CPU work takes no virtual time), whatever the machine's load.

Vendor faults through the real OpenAI client are in tests/faults/test_openai_faults.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pipecat.frames.frames import (
    Frame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.llm_service import LLMService
from pydantic import Field

from tests.faults.harness import ANSWERS, QUESTIONS, caller, three_turn_bot
from voicebot import Bot
from voicebot.failover.llm import FallbackLLM
from voicebot.failover.policy import FailoverPolicy
from voicebot.processors.heard_text import CUT_MARKER
from voicebot.providers.base import BuildContext, LLMProvider, llm_settings
from voicebot.session import Session
from voicebot.transports.wav import WavFile


@dataclass(frozen=True)
class Fail:
    """The request fails at once (the vendor refused the connection)."""


@dataclass(frozen=True)
class Hang:
    """No answer, ever (until the request is abandoned)."""


@dataclass(frozen=True)
class Stall:
    """``partial`` is streamed, then nothing more."""

    partial: str


Step = str | Fail | Hang | Stall


class FaultyLLMService(LLMService):
    """Answers each request with the next step of its script: text, or a fault."""

    def __init__(self, steps: Sequence[Step], ttft_secs: float) -> None:
        super().__init__(settings=llm_settings("faulty"))
        self.steps = list(steps)
        self.ttft_secs = ttft_secs
        self.requests: list[str] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if not isinstance(frame, LLMContextFrame):
            await self.push_frame(frame, direction)
            return
        user = [m for m in frame.context.get_messages() if m.get("role") == "user"]
        self.requests.append(str(user[-1]["content"]) if user else "")
        step = self.steps.pop(0) if self.steps else "I have no more answers."
        await self.push_frame(LLMFullResponseStartFrame())
        try:
            await asyncio.sleep(self.ttft_secs)
            if isinstance(step, Fail):
                raise ConnectionRefusedError(111, "Connection refused")
            if isinstance(step, Hang):
                await asyncio.sleep(3600)
            text = step.partial if isinstance(step, Stall) else step
            for word in text.split(" "):
                await self.push_frame(LLMTextFrame(f"{word} "))
                await asyncio.sleep(0.02)
            if isinstance(step, Stall):
                await asyncio.sleep(3600)
        except ConnectionRefusedError as e:
            await self.push_error(error_msg=f"Error during completion: {e}", exception=e)
        finally:
            await self.push_frame(LLMFullResponseEndFrame())


class FaultyLLM(LLMProvider):
    """A provider of ``FaultyLLMService``; ``built`` keeps each session's service."""

    name: ClassVar[str] = "faulty"
    built: ClassVar[list[FaultyLLMService]] = []

    steps: list[Any] = Field(default_factory=list)
    ttft_secs: float = 0.1
    local: bool = False

    def cores_per_call(self) -> float | None:
        return 2.0 if self.local else None

    def build(self, ctx: BuildContext) -> FaultyLLMService:
        service = FaultyLLMService(self.steps, self.ttft_secs)
        FaultyLLM.built.append(service)
        return service


@pytest.fixture(autouse=True)
def _forget_built() -> None:
    FaultyLLM.built.clear()


async def run_call(bot: Bot, tmp_path: Path) -> Session:
    transport = WavFile(input=caller(tmp_path), output=tmp_path / "bot.wav", linger_secs=1.0)
    session = bot.session(transport=transport, env={})
    async with asyncio.timeout(120):
        await session.run()
    return session


def failovers(session: Session, index: int) -> list[dict[str, Any]]:
    """The switches filed on the caller's ``index``th turn."""
    return next(t.failovers for t in session.turns if t.index == index)


def heard(session: Session) -> list[str]:
    return [t.bot_text for t in session.turns if t.user_text]


def assistant_lines(session: Session) -> list[str]:
    return [str(m["content"]) for m in session.context.get_messages() if m["role"] == "assistant"]


async def test_a_failed_request_is_replayed_on_the_next_llm(tmp_path: Path) -> None:
    primary = FaultyLLM(steps=[ANSWERS[0], Fail(), ANSWERS[2]])
    fallback = FaultyLLM(steps=[ANSWERS[1]])
    session = await run_call(three_turn_bot(llm=[primary, fallback]), tmp_path)

    assert heard(session) == list(ANSWERS)
    _, second = FaultyLLM.built
    assert second.requests == [QUESTIONS[1]], "the fallback got the very request that failed"
    [switch] = failovers(session, 2)
    assert (switch["reason"], switch["replayed"]) == ("connection_refused", True)
    assert switch["after_secs"] < 0.5  # refused at once: no budget was waited out
    assert assistant_lines(session) == list(ANSWERS)


async def test_a_hang_fails_over_once_the_budget_runs_out(tmp_path: Path) -> None:
    policy = FailoverPolicy(llm_first_token_secs=2.0, retry_secs=1.0)
    primary = FaultyLLM(steps=[ANSWERS[0], Hang(), ANSWERS[2]])
    llm = FallbackLLM([primary, FaultyLLM(steps=[ANSWERS[1]])], policy=policy)
    session = await run_call(three_turn_bot(llm=llm), tmp_path)

    [switch] = failovers(session, 2)
    assert switch["reason"] == "no_first_token"
    # On the virtual clock the switch comes exactly when the budget runs out.
    assert 2.0 <= switch["after_secs"] < 2.1
    assert heard(session) == [ANSWERS[0], f"One moment. {ANSWERS[1]}", ANSWERS[2]]


async def test_a_slow_local_fallback_gets_its_own_longer_budget(tmp_path: Path) -> None:
    """The cloud hangs past its 1 s budget; the local model (in-process: ``cores_per_call``)
    takes 3 s to its first token, within its own budget (8 s), so it answers."""
    policy = FailoverPolicy(llm_first_token_secs=1.0)
    local = FaultyLLM(steps=[ANSWERS[1]], ttft_secs=3.0, local=True)
    llm = FallbackLLM([FaultyLLM(steps=[ANSWERS[0], Hang(), ANSWERS[2]]), local], policy=policy)
    session = await run_call(three_turn_bot(llm=llm), tmp_path)

    assert heard(session)[1] == f"One moment. {ANSWERS[1]}"
    assert [f["reason"] for f in failovers(session, 2)] == ["no_first_token"]


async def test_when_every_llm_fails_the_apology_is_said_and_the_call_goes_on(
    tmp_path: Path,
) -> None:
    llm = [FaultyLLM(steps=[ANSWERS[0], Fail(), ANSWERS[2]]), FaultyLLM(steps=[Fail()])]
    session = await run_call(three_turn_bot(llm=llm, apology="Sorry, try again."), tmp_path)

    assert heard(session) == [ANSWERS[0], "Sorry, try again.", ANSWERS[2]]
    assert [f["to_provider"] for f in failovers(session, 2)] == ["FaultyLLM", "apology"]


async def test_after_max_failed_turns_the_bot_says_goodbye_and_ends_the_call(
    tmp_path: Path,
) -> None:
    """Both LLMs answer turn 1, then fail: turn 2 gets the apology, turn 3 (the second
    failed turn in a row) the goodbye, and the bot ends the call itself."""
    llm = [FaultyLLM(steps=[ANSWERS[0], Fail(), Fail()]), FaultyLLM(steps=[Fail(), Fail()])]
    bot = three_turn_bot(llm=llm, apology="Sorry.", max_failed_turns=2)
    session = await run_call(bot, tmp_path)

    lines = heard(session)
    assert lines[:2] == [ANSWERS[0], "Sorry."]
    assert lines[2].startswith("Sorry, I can't help right now.") and lines[2].endswith("Goodbye.")
    assert session.failures is not None and session.failures.error is None


async def test_a_reply_cut_by_a_stall_keeps_only_what_was_heard(tmp_path: Path) -> None:
    """The first clause is spoken, then the stream stalls: the context keeps that clause
    and the cut mark, never the words that were streamed but not spoken."""
    partial = "Yes, there is parking behind the building, free for"
    primary = FaultyLLM(steps=[ANSWERS[0], Stall(partial), ANSWERS[2]])
    fallback = FaultyLLM(steps=[ANSWERS[1], ANSWERS[2]])
    session = await run_call(three_turn_bot(llm=[primary, fallback]), tmp_path)

    assert assistant_lines(session) == [
        ANSWERS[0],
        f"Yes, there is parking behind the building, {CUT_MARKER}",
        "Sorry, let me start that again.",
        ANSWERS[1],
        ANSWERS[2],
    ]
    [switch] = failovers(session, 2)
    assert (switch["reason"], switch["replayed"]) == ("stall", False)


async def test_a_recovered_llm_is_taken_back_after_its_backoff(tmp_path: Path) -> None:
    policy = FailoverPolicy(retry_secs=1.0)
    primary = FaultyLLM(steps=[ANSWERS[0], Fail(), ANSWERS[2]])
    fallback = FaultyLLM(steps=[ANSWERS[1], "not me"])
    llm = FallbackLLM([primary, fallback], policy=policy)
    session = await run_call(three_turn_bot(llm=llm), tmp_path)

    assert heard(session) == list(ANSWERS)
    [back] = failovers(session, 3)
    assert (back["from_provider"], back["to_provider"], back["reason"]) == (
        "FaultyLLM",
        "FaultyLLM",
        "recovered",
    )
    assert FaultyLLM.built[1].requests == [QUESTIONS[1]]


async def test_the_fallback_calls_the_bots_tools(tmp_path: Path) -> None:
    """Tools are registered on every member: the fallback's tool call runs, and its answer
    after the result is the reply."""
    from voicebot import tool
    from voicebot.testing import FakeLLM, ToolCall

    calls: list[str] = []

    @tool
    def opening_hours(day: str) -> str:
        """Opening hours on a given day."""
        calls.append(day)
        return "9am to 6pm"

    primary = FaultyLLM(steps=[Fail(), ANSWERS[1], ANSWERS[2]])
    fallback = FakeLLM(replies=[ToolCall("opening_hours", {"day": "monday"}), ANSWERS[0]])
    bot = three_turn_bot(llm=[primary, fallback], tools=[opening_hours])
    session = await run_call(bot, tmp_path)

    assert calls == ["monday"]
    assert heard(session)[0] == ANSWERS[0]
    assert [c.name for t in session.turns for c in t.tool_calls] == ["opening_hours"]


async def test_a_speculative_reply_held_past_the_budget_is_not_a_failover(tmp_path: Path) -> None:
    """With ``speculate=True`` the reply is made at the pause and held until the turn ends
    (2 s of silence here): the 1 s first-token budget starts when the turn ends, not when
    the held request was made, so no provider is failed over and each answer is heard."""
    from voicebot import EnergyVAD, SilenceTurn
    from voicebot.testing import FakeSTT, FakeTTS

    policy = FailoverPolicy(llm_first_token_secs=1.0)
    primary, fallback = FaultyLLM(steps=list(ANSWERS)), FaultyLLM(steps=["Not me."])
    bot = Bot(
        stt=FakeSTT(transcripts=list(QUESTIONS), latency_secs=0.05),
        llm=FallbackLLM([primary, fallback], policy=policy),
        tts=FakeTTS(ttfb_secs=0.05, secs_per_char=0.03),
        vad=EnergyVAD(stop_secs=0.2),
        turn=SilenceTurn(silence_secs=2.0, speculate=True),
    )
    session = await run_call(bot, tmp_path)

    assert heard(session) == list(ANSWERS)
    first, second = FaultyLLM.built
    assert first.requests == list(QUESTIONS) and second.requests == []
    assert all(not t.failovers for t in session.turns)
    assert [t.speculation for t in session.turns if t.user_text] == [
        {"started": 1, "confirmed": 1, "withdrawn": 0}
    ] * 3


async def test_a_withdrawn_speculation_is_not_owed_by_the_group(tmp_path: Path) -> None:
    """The caller pauses mid-question: the reply started at the pause is withdrawn when they
    go on, and the group forgets it (else it would wait for it, fail over and replay it)."""
    from voicebot import EnergyVAD, SilenceTurn
    from voicebot.testing import FakeSTT, FakeTTS, write_caller_wav

    policy = FailoverPolicy(llm_first_token_secs=1.0)
    primary = FaultyLLM(steps=["An answer to half a question.", "We open at nine."])
    fallback = FaultyLLM(steps=["Not me."])
    bot = Bot(
        stt=FakeSTT(transcripts=["When do", "you open?"], latency_secs=0.05),
        llm=FallbackLLM([primary, fallback], policy=policy),
        tts=FakeTTS(ttfb_secs=0.05, secs_per_char=0.03),
        vad=EnergyVAD(stop_secs=0.2),
        turn=SilenceTurn(silence_secs=1.0, speculate=True),
    )
    audio = write_caller_wav(tmp_path / "caller.wav", [(0.5, 0.5), (1.3, 0.5)], total_secs=8.0)
    transport = WavFile(input=audio, output=tmp_path / "bot.wav", linger_secs=1.0)
    session = bot.session(transport=transport, env={})
    async with asyncio.timeout(120):
        await session.run()

    assert heard(session) == ["We open at nine."]
    first, second = FaultyLLM.built
    assert first.requests == ["When do", "When do you open?"] and second.requests == []
    assert all(not t.failovers for t in session.turns)
