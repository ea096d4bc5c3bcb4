"""``llm=Cascade(...)`` on whole three-turn calls with fake models, on the virtual clock.

The caller asks ``QUESTIONS`` (opening hours, parking, goodbye); the routes here send the
parking question to the capable model, so turns 1 and 3 are routine and turn 2 is hard.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.conversation.test_fallback_llm import Fail, FaultyLLM, failovers
from tests.faults.harness import ANSWERS, QUESTIONS, UTTERANCES, caller, three_turn_bot
from voicebot import Bot, SilenceTurn, tool
from voicebot.audio import read_wav
from voicebot.audio.segments import speech_segments
from voicebot.cascade import Cascade, fast_declines, keywords
from voicebot.session import Session
from voicebot.testing import FakeLLM, ToolCall
from voicebot.transports.wav import WavFile

BRIDGE = "Let me check that."
HARD = keywords(["parking"])
#: The capable model's time to its first token (virtual seconds: exact).
CAPABLE_THINKS = 2.0


async def run_call(bot: Bot, tmp_path: Path) -> Session:
    transport = WavFile(input=caller(tmp_path), output=tmp_path / "bot.wav", linger_secs=1.0)
    session = bot.session(transport=transport, env={})
    async with asyncio.timeout(120):
        await session.run()
    return session


def heard(session: Session) -> list[str]:
    return [t.bot_text for t in session.turns if t.user_text]


def paths(session: Session) -> list[str | None]:
    return [t.llm_path for t in session.turns if t.user_text]


def routes(session: Session, index: int) -> list[tuple[str, str]]:
    turn = next(t for t in session.turns if t.index == index)
    return [(f["path"], f["reason"]) for f in turn.failovers if f["stage"] == "cascade"]


def gap(tmp_path: Path, index: int) -> float:
    """The caller's ``index``th question: its end -> the bot's first audio after it, on the
    caller's timeline (the bot's WAV)."""
    start, secs = UTTERANCES[index - 1]
    asked = start + secs
    bot = speech_segments(read_wav(tmp_path / "bot.wav"), window_secs=0.005, min_gap_secs=0.3)
    return next(s.start for s in bot if s.start > asked) - asked


def said_in(request: list[dict[str, Any]], role: str) -> list[str]:
    return [str(m.get("content")) for m in request if m.get("role") == role]


async def test_routine_turns_come_from_fast_and_a_hard_one_from_capable(tmp_path: Path) -> None:
    fast = FakeLLM(replies=[ANSWERS[0], ANSWERS[2]], ttft_secs=0.1)
    capable = FakeLLM(replies=[ANSWERS[1]], ttft_secs=CAPABLE_THINKS)
    cascade = Cascade(fast=fast, capable=capable, route=HARD)
    session = await run_call(three_turn_bot(llm=cascade), tmp_path)

    assert heard(session) == [ANSWERS[0], f"{BRIDGE} {ANSWERS[1]}", ANSWERS[2]]
    assert paths(session) == ["fast", "capable", "fast"]
    assert routes(session, 2) == [("capable", "keywords")]
    # The bridge is spoken before the capable answer, and only on the escalated turn.
    spoken = [text.strip() for text in session.tts.spoken]
    assert spoken.count(BRIDGE) == 1
    assert spoken.index(BRIDGE) < spoken.index(ANSWERS[1])
    # ...while the capable model thinks: the caller hears the bot before its first token.
    assert gap(tmp_path, 2) < CAPABLE_THINKS
    # One conversation: each model sees the turns the other one answered.
    switcher = session.llm
    [asked_capable] = switcher.capable.requests
    assert said_in(asked_capable, "user") == list(QUESTIONS[:2])
    assert said_in(asked_capable, "assistant") == [ANSWERS[0]]
    last_fast = switcher.fast.requests[-1]
    assert said_in(last_fast, "user") == list(QUESTIONS)
    assert " ".join(said_in(last_fast, "assistant")).split() == (
        f"{ANSWERS[0]} {BRIDGE} {ANSWERS[1]}".split()
    )


async def test_without_a_bridge_the_capable_model_just_answers(tmp_path: Path) -> None:
    cascade = Cascade(
        fast=FakeLLM(replies=[ANSWERS[0], ANSWERS[2]], ttft_secs=0.1),
        capable=FakeLLM(replies=[ANSWERS[1]], ttft_secs=CAPABLE_THINKS),
        route=HARD,
        bridge=None,
    )
    session = await run_call(three_turn_bot(llm=cascade), tmp_path)

    assert heard(session) == list(ANSWERS)
    assert paths(session) == ["fast", "capable", "fast"]
    assert gap(tmp_path, 2) > CAPABLE_THINKS  # silence until the capable model's answer


async def test_a_fast_decline_is_never_spoken_and_the_capable_model_answers(
    tmp_path: Path,
) -> None:
    declined = "I'm not sure whether we have parking, sorry about that."
    fast = FakeLLM(replies=[ANSWERS[0], declined, ANSWERS[2]], ttft_secs=0.1)
    capable = FakeLLM(replies=[ANSWERS[1]], ttft_secs=0.5)
    cascade = Cascade(fast=fast, capable=capable, route=fast_declines)
    session = await run_call(three_turn_bot(llm=cascade), tmp_path)

    assert heard(session) == [ANSWERS[0], f"{BRIDGE} {ANSWERS[1]}", ANSWERS[2]]
    assert paths(session) == ["fast", "capable", "fast"]
    assert routes(session, 2) == [("capable", "fast_declines")]
    assert all("not sure" not in t.said_text for t in session.turns)
    assert all("not sure" not in text for text in session.tts.spoken)
    # The capable model got the very request the fast one declined, and the decline is
    # nowhere in the conversation.
    [asked_capable] = session.llm.capable.requests
    assert said_in(asked_capable, "user") == list(QUESTIONS[:2])
    assert said_in(asked_capable, "assistant") == [ANSWERS[0]]
    assert all("not sure" not in str(m["content"]) for m in session.context.get_messages())


async def test_tools_run_on_either_path_and_the_caller_of_a_tool_answers_from_it(
    tmp_path: Path,
) -> None:
    ran: list[str] = []

    @tool
    def opening_hours() -> str:
        """When the shop opens."""
        ran.append("opening_hours")
        return "nine"

    @tool
    def parking() -> str:
        """Where to park."""
        ran.append("parking")
        return "behind the building"

    fast = FakeLLM(replies=[ToolCall("opening_hours"), ANSWERS[0], ANSWERS[2]], ttft_secs=0.1)
    capable = FakeLLM(replies=[ToolCall("parking"), ANSWERS[1]], ttft_secs=0.3)
    cascade = Cascade(fast=fast, capable=capable, route=[HARD, fast_declines])
    session = await run_call(three_turn_bot(llm=cascade, tools=[opening_hours, parking]), tmp_path)

    assert ran == ["opening_hours", "parking"]
    assert [t.tool_calls[0].name for t in session.turns if t.user_text and t.tool_calls] == [
        "opening_hours",
        "parking",
    ]
    lines = heard(session)
    assert lines[0].endswith(ANSWERS[0]) and lines[1].endswith(ANSWERS[1]), lines
    assert lines[1].startswith(BRIDGE) and lines[2] == ANSWERS[2], lines
    assert paths(session) == ["fast", "capable", "fast"]
    # Each tool's result went back to the model that called it.
    fast_asked, capable_asked = session.llm.fast.requests, session.llm.capable.requests
    assert fast_asked[1][-1]["role"] == "tool" and capable_asked[1][-1]["role"] == "tool"
    assert len(capable_asked) == 2


@pytest.mark.parametrize("bridge", [BRIDGE, None])
async def test_a_failing_capable_model_falls_back_to_the_fast_one(
    tmp_path: Path, bridge: str | None
) -> None:
    fast = FakeLLM(replies=list(ANSWERS), ttft_secs=0.1)
    cascade = Cascade(fast=fast, capable=FaultyLLM(steps=[Fail()]), route=HARD, bridge=bridge)
    session = await run_call(three_turn_bot(llm=cascade), tmp_path)

    second = f"{BRIDGE} {ANSWERS[1]}" if bridge else ANSWERS[1]
    assert heard(session) == [ANSWERS[0], second, ANSWERS[2]]
    assert routes(session, 2) == [("capable", "keywords"), ("fast", "capable_failed")]
    assert paths(session) == ["fast", "fast", "fast"]
    # One reply per turn in the conversation: the failed attempt left no half-open reply.
    lines = [m["content"] for m in session.context.get_messages() if m["role"] == "assistant"]
    assert (
        " ".join(str(line) for line in lines).split()
        == " ".join([ANSWERS[0], second, ANSWERS[2]]).split()
    )
    assert session.failures is None or session.failures.error is None


async def test_a_cascade_can_be_the_first_of_a_fallback_list(tmp_path: Path) -> None:
    """``llm=[Cascade(...), backup]``: the bridge and the capable answer are one reply, so
    the fallback group sees one answer; when the cascade's fast model fails, the backup
    answers the same request. (The cascade's own path is not filed on the turn record when
    it is nested: the session wires the listeners of the stage itself only.)"""
    fast = FaultyLLM(steps=[ANSWERS[0], Fail(), ANSWERS[2]])
    capable = FakeLLM(replies=[ANSWERS[2]], ttft_secs=0.3)
    cascade = Cascade(fast=fast, capable=capable, route=keywords(["goodbye"]))
    session = await run_call(three_turn_bot(llm=[cascade, FakeLLM(replies=[ANSWERS[1]])]), tmp_path)

    assert heard(session) == [ANSWERS[0], ANSWERS[1], f"{BRIDGE} {ANSWERS[2]}"]
    [switch] = [f for f in failovers(session, 2) if f["stage"] == "llm"]
    assert (switch["from_provider"], switch["to_provider"]) == ("Cascade", "FakeLLM")


async def test_a_speculative_escalated_turn_gets_its_bridge_when_the_turn_ends(
    tmp_path: Path,
) -> None:
    """``speculate=True``: the reply starts at the caller's pause, held until the turn is
    over; the bridge is said then, before the capable model's held answer."""
    cascade = Cascade(
        fast=FakeLLM(replies=[ANSWERS[0], ANSWERS[2]], ttft_secs=0.1),
        capable=FakeLLM(replies=[ANSWERS[1]], ttft_secs=0.1),
        route=HARD,
    )
    # (A greeting opens the call's first record: a route filed before any record exists
    # would go on turn 0, as any stage's switch would.)
    bot = three_turn_bot(llm=cascade, greeting="Hello.").model_copy(
        update={"turn": SilenceTurn(silence_secs=0.3, speculate=True)}
    )
    session = await run_call(bot, tmp_path)

    assert heard(session) == [ANSWERS[0], f"{BRIDGE} {ANSWERS[1]}", ANSWERS[2]]
    assert paths(session) == ["fast", "capable", "fast"]
    turn = next(t for t in session.turns if t.index == 2)
    assert turn.speculation is not None and turn.speculation["confirmed"] == 1
