"""Control of a running call (``voicebot.session_control``) on whole calls with fakes, on the
virtual clock: the application's actions happen at set points of the caller's timeline."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from voicebot import Bot, EnergyVAD, SilenceTurn, WavFile, tool
from voicebot.errors import ConfigError
from voicebot.session import Session
from voicebot.session_control import UserIdle
from voicebot.testing import FakeLLM, FakeSTT, FakeTTS, ToolCall, write_caller_wav

QUICK = dict(vad=EnergyVAD(stop_secs=0.2), turn=SilenceTurn(silence_secs=0.3))


def bot(transcripts: list[str], replies: list[Any], **extra: Any) -> Bot:
    return Bot(
        stt=FakeSTT(transcripts=transcripts, latency_secs=0.05),
        llm=FakeLLM(replies=replies, ttft_secs=0.1),
        tts=FakeTTS(ttfb_secs=0.05, secs_per_char=0.03),
        **{**QUICK, **extra},
    )


async def call(
    b: Bot,
    tmp_path: Path,
    speech: list[tuple[float, float]],
    secs: float,
    act: Callable[[Session], Awaitable[None]] | None = None,
) -> Session:
    audio = write_caller_wav(tmp_path / "caller.wav", speech, total_secs=secs)
    session = b.session(
        transport=WavFile(input=audio, output=tmp_path / "bot.wav", linger_secs=1.0), env={}
    )

    async def acting() -> None:
        if act is not None:
            await act(session)

    async with asyncio.timeout(120):
        await asyncio.gather(session.run(), acting())
    return session


def said(session: Session) -> list[str]:
    return [str(m["content"]) for m in session.context.get_messages() if m["role"] == "assistant"]


async def test_say_speaks_a_line_that_joins_the_context(tmp_path: Path) -> None:
    async def act(session: Session) -> None:
        await asyncio.sleep(3.0)  # after the first answer
        await session.say("By the way, we close early on Fridays.")

    session = await call(bot(["When do you open?"], ["At nine."]), tmp_path, [(0.5, 0.8)], 6.0, act)
    assert said(session) == ["At nine.", "By the way, we close early on Fridays."]
    with pytest.raises(ConfigError, match="needs some text"):
        await session.say("  ")


async def test_interrupt_stops_the_reply_and_keeps_what_was_heard(tmp_path: Path) -> None:
    long = "Our opening hours are nine to five on weekdays and ten to four on Saturdays " * 3

    async def act(session: Session) -> None:
        await asyncio.sleep(2.5)  # the reply started at ~1.8 s and lasts ~7 s
        await session.interrupt()

    session = await call(bot(["Hours?"], [long.strip()]), tmp_path, [(0.5, 0.8)], 8.0, act)
    [heard] = said(session)
    assert heard != long.strip() and heard.startswith("Our")  # a prefix, with the cut mark
    assert session.turns[-1].interrupted


async def test_generate_reply_answers_now_with_instructions_kept_as_a_note(tmp_path: Path) -> None:
    async def act(session: Session) -> None:
        await asyncio.sleep(3.0)
        await session.generate_reply(instructions="Tell the caller about the Friday hours.")

    b = bot(["When do you open?"], ["At nine.", "On Fridays we close at three."])
    session = await call(b, tmp_path, [(0.5, 0.8)], 6.0, act)
    assert said(session) == ["At nine.", "On Fridays we close at three."]
    last_request = session.llm.requests[-1]
    assert last_request[-1] == {
        "role": "system",
        "content": "Tell the caller about the Friday hours.",
    }


async def test_update_changes_the_prompt_and_the_tools_for_the_rest_of_the_call(
    tmp_path: Path,
) -> None:
    ran: list[str] = []

    @tool
    def opening_hours(day: str) -> str:
        """Opening hours on a day."""
        return "nine to five"

    @tool
    def book_table(time: str) -> str:
        """Book a table."""
        ran.append(time)
        return "booked"

    async def act(session: Session) -> None:
        await asyncio.sleep(3.0)  # between the two questions
        await session.update(system_prompt="You are the night shift.", tools=[book_table])

    b = bot(
        ["Hello.", "Book me at eight."],
        ["Hi there.", ToolCall("book_table", {"time": "eight"}), "Done, eight it is."],
        tools=[opening_hours],
        system_prompt="You are the day shift.",
    )
    session = await call(b, tmp_path, [(0.5, 0.6), (4.0, 0.8)], 9.0, act)
    first, *later = session.llm.requests
    assert first[0] == {"role": "system", "content": "You are the day shift."}
    assert all(r[0] == {"role": "system", "content": "You are the night shift."} for r in later)
    assert ran == ["eight"]
    names = [t.name for t in session.context.tools.standard_tools]  # type: ignore[union-attr]
    assert names == ["book_table"]


async def test_update_tools_needs_a_call_that_started_with_tools(tmp_path: Path) -> None:
    errors: list[Exception] = []

    async def act(session: Session) -> None:
        await asyncio.sleep(1.0)
        try:
            await session.update(tools=[lambda: "x"])
        except ConfigError as e:
            errors.append(e)

    await call(bot(["Hi."], ["Hello."]), tmp_path, [(0.5, 0.5)], 3.0, act)
    assert errors and "started without tools" in str(errors[0])


async def test_a_caller_muted_during_the_greeting_is_not_heard_then(tmp_path: Path) -> None:
    b = bot(
        ["Hello?", "When do you open?"],
        ["At nine."],
        greeting="Welcome to the bakery, how can I help you today?",  # ~1.5 s of speech
        mute_caller=["greeting"],
    )
    # The caller talks over the greeting (0.3-0.9 s), then asks after it.
    session = await call(b, tmp_path, [(0.3, 0.6), (3.0, 0.8)], 6.0)
    # The speech over the greeting made no turn (the fake STT answers the first words it
    # is asked for: "Hello?" is the question asked after the greeting), and did not cut it.
    users = [t.user_text for t in session.turns if t.user_text]
    assert users == ["Hello?"]
    assert said(session)[0] == "Welcome to the bakery, how can I help you today?"
    assert not any(t.interrupted for t in session.turns)


async def test_a_silent_caller_is_nudged_then_the_bot_hangs_up(tmp_path: Path) -> None:
    idle = UserIdle(after_secs=2.0, nudges=("Are you still there?",), goodbye="Goodbye then.")
    b = bot(["When do you open?"], ["At nine."], user_idle=idle)
    session = await call(b, tmp_path, [(0.5, 0.8)], 30.0)
    assert said(session) == ["At nine.", "Are you still there?", "Goodbye then."]


def test_mute_caller_names_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"unknown 'greting'.*greeting, first_speech"):
        Bot(mute_caller=["greting"], **QUICK)
    assert Bot(mute_caller="tool_calls", **QUICK).mute_caller == ("tool_calls",)
