"""Phone-call features in whole conversations, with the fakes: keypad presses (DTMF) reach the
context, a tool awaits the caller's digits (or times out), and the bot hangs up after its
goodbye. Key presses are injected as the ``InputDTMFFrame``s a phone transport pushes (no
carrier needed); the tests wait on the conversation's state, not on the clock."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from pipecat.audio.dtmf.types import KeypadEntry
from pipecat.frames.frames import InputDTMFFrame

from tests.conversation.conditions import until
from voicebot import Bot, EnergyVAD, SilenceTurn, WavFile, tool
from voicebot.audio import read_wav
from voicebot.audio.segments import speech_segments
from voicebot.processors.dtmf import DTMF, Digits
from voicebot.session import Session
from voicebot.testing import FakeLLM, FakeSTT, FakeTTS, ToolCall, write_caller_wav
from voicebot.tools.builtin import collect_digits, end_call

QUICK_TURNS = dict(vad=EnergyVAD(stop_secs=0.2), turn=SilenceTurn(silence_secs=0.3))
BOUND_SECS = 60.0
SECS_PER_CHAR = 0.03


def phone_session(
    tmp_path: Path,
    utterances: list[tuple[float, float]],
    total_secs: float,
    *,
    heard: list[str],
    replies: list[Any],
    **options: Any,
) -> Session:
    caller = write_caller_wav(tmp_path / "caller.wav", utterances, total_secs=total_secs)
    bot = Bot(
        stt=FakeSTT(transcripts=heard, latency_secs=0.05),
        llm=FakeLLM(replies=replies, ttft_secs=0.05),
        tts=FakeTTS(ttfb_secs=0.05, secs_per_char=SECS_PER_CHAR),
        **{**QUICK_TURNS, **options},
    )
    transport = WavFile(input=caller, output=tmp_path / "bot.wav", linger_secs=1.0)
    return bot.session(transport=transport, env={})


async def press(session: Session, keys: str) -> None:
    """The caller presses ``keys``, as a phone transport reports them."""
    await session.worker.queue_frames([InputDTMFFrame(KeypadEntry(k)) for k in keys])


def user_messages(session: Session) -> list[str]:
    """The user messages of the context the model was last asked about."""
    last = session.llm.requests[-1] if session.llm.requests else []
    return [str(m.get("content")) for m in last if m.get("role") == "user"]


async def run_with(session: Session, helper: Any) -> Any:
    """Run the session and ``helper()`` beside it; the helper's result."""
    async with asyncio.timeout(BOUND_SECS):
        task = asyncio.create_task(helper())
        await session.run()
        return await task


# ---- keys as events and as text in the context ---------------------------------------------


async def test_keys_reach_the_context_as_one_entry_and_as_events(tmp_path: Path) -> None:
    session = phone_session(tmp_path, [], 3.0, heard=[], replies=["Thanks, account found."])
    assert session.keypad is not None
    keys: list[str] = []
    entries: list[str] = []

    @session.keypad.event_handler("on_dtmf")
    async def on_dtmf(_keypad: Any, key: str) -> None:
        keys.append(key)

    @session.keypad.event_handler("on_entry")
    async def on_entry(_keypad: Any, entry: str) -> None:
        entries.append(entry)

    async def caller() -> None:
        assert await until(lambda: session.keypad is not None and session.keypad.started)
        await press(session, "1234#")

    await run_with(session, caller)

    assert keys == list("1234#")
    assert entries == ["1234#"]
    assert user_messages(session) == ["[caller pressed 1 2 3 4 #]"]
    assert session.tts.spoken == ["Thanks, account found."]


async def test_an_entry_without_terminator_ends_on_a_pause(tmp_path: Path) -> None:
    session = phone_session(
        tmp_path, [], 4.0, heard=[], replies=["Option two."], dtmf=DTMF(pause_secs=0.5)
    )

    async def caller() -> None:
        assert await until(lambda: session.keypad is not None and session.keypad.started)
        await press(session, "2")

    await run_with(session, caller)
    assert user_messages(session) == ["[caller pressed 2]"]


async def test_keys_stay_out_of_the_context_when_as_text_is_off(tmp_path: Path) -> None:
    session = phone_session(
        tmp_path, [], 3.0, heard=[], replies=["unused"], dtmf=DTMF(as_text=False)
    )
    assert session.keypad is not None
    entries: list[str] = []
    session.keypad.add_event_handler("on_entry", lambda _k, entry: entries.append(entry))

    async def caller() -> None:
        assert await until(lambda: session.keypad is not None and session.keypad.started)
        await press(session, "9#")

    await run_with(session, caller)
    assert entries == ["9#"]
    assert session.llm.requests == []  # nothing asked the model


# ---- a tool awaiting digits ------------------------------------------------------------------


def pin_tool(got: list[Digits], *, timeout_secs: float) -> Any:
    @tool(ack="Please enter your four digit PIN.", filler=None)
    async def check_pin() -> dict[str, Any]:
        """Ask the caller for their PIN on the keypad and check it."""
        digits = await collect_digits(count=4, timeout_secs=timeout_secs)
        got.append(digits)
        if digits.timed_out:
            return {"error": f"no PIN entered in time (got {len(digits.keys)} digits)"}
        return {"pin_ok": digits.keys == "4321"}

    return check_pin


async def test_a_tool_awaiting_four_digits_gets_them_and_not_the_context(tmp_path: Path) -> None:
    got: list[Digits] = []
    session = phone_session(
        tmp_path,
        [(0.3, 0.6)],
        3.0,
        heard=["What is my balance?"],
        replies=[ToolCall("check_pin"), "Your balance is ten dollars."],
        tools=[pin_tool(got, timeout_secs=30.0)],
    )

    async def caller() -> int:
        assert await until(lambda: session.keypad is not None and session.keypad.collecting)
        before = session.conversation.interruptions
        await press(session, "43")
        await press(session, "21")
        return before

    interruptions_before_keys = await run_with(session, caller)

    assert got == [Digits("4321", "count")]
    result = next(m for m in session.llm.requests[-1] if m.get("role") == "tool")
    assert '"pin_ok": true' in str(result["content"])
    assert user_messages(session) == ["What is my balance?"]  # no "[caller pressed ...]"
    assert session.tts.spoken == [
        "Please enter your four digit PIN.",
        "Your balance is ten dollars.",
    ]
    # Keys for a tool interrupt nothing (the acknowledgement was heard to the end).
    assert session.conversation.interruptions == interruptions_before_keys


async def test_a_tool_awaiting_digits_times_out_and_says_so(tmp_path: Path) -> None:
    got: list[Digits] = []
    session = phone_session(
        tmp_path,
        [(0.3, 0.6)],
        4.0,
        heard=["What is my balance?"],
        replies=[ToolCall("check_pin"), "I did not get your PIN."],
        tools=[pin_tool(got, timeout_secs=1.5)],
    )

    async def caller() -> None:
        assert await until(lambda: session.keypad is not None and session.keypad.collecting)
        await press(session, "12")  # then nothing more

    await run_with(session, caller)

    assert got == [Digits("12", "timeout")]
    assert got[0].timed_out
    result = next(m for m in session.llm.requests[-1] if m.get("role") == "tool")
    assert "no PIN entered in time (got 2 digits)" in str(result["content"])
    assert session.tts.spoken[-1] == "I did not get your PIN."


# ---- the bot hangs up ------------------------------------------------------------------------


def bot_speech(path: Path) -> list[Any]:
    return speech_segments(read_wav(path), window_secs=0.005, min_gap_secs=0.3)


async def test_end_call_says_goodbye_then_ends_the_call_long_before_the_caller_would(
    tmp_path: Path,
) -> None:
    # The caller's file runs 40 s; the call must end once the goodbye has been heard.
    session = phone_session(
        tmp_path,
        [(0.3, 0.6)],
        40.0,
        heard=["That's all, bye."],
        replies=[ToolCall("end_call"), "This must never be said."],
        tools=[end_call],
    )
    async with asyncio.timeout(BOUND_SECS):
        await session.run()

    assert session.tts.spoken == ["Goodbye!"]
    assert len(session.llm.requests) == 1  # the model was not run again after end_call
    (goodbye,) = bot_speech(tmp_path / "bot.wav")
    # All of the goodbye's audio left the transport before the call ended.
    assert goodbye.end - goodbye.start >= 0.9 * len("Goodbye!") * SECS_PER_CHAR
    assert read_wav(tmp_path / "bot.wav").duration_secs < 20.0
    (turn,) = session.turn_log.user_turns()
    assert [c.name for c in turn.tool_calls] == ["end_call"]
    assert turn.bot_text == "Goodbye!"


async def test_hang_up_from_code_speaks_the_goodbye_first(tmp_path: Path) -> None:
    session = phone_session(tmp_path, [], 40.0, heard=[], replies=[])

    async def hang_up() -> None:
        assert await until(lambda: session.keypad is not None and session.keypad.started)
        await session.hang_up(goodbye="Sorry, we are closed today.")

    await run_with(session, hang_up)

    assert session.tts.spoken == ["Sorry, we are closed today."]
    (goodbye,) = bot_speech(tmp_path / "bot.wav")
    assert goodbye.end - goodbye.start >= 0.9 * len("Sorry, we are closed today.") * SECS_PER_CHAR
    assert read_wav(tmp_path / "bot.wav").duration_secs < 20.0
