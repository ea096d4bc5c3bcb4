"""When a recorded caller's call ends: after the input has played, once the bot has no answer
pending and has been quiet for ``linger_secs``; a hung answer is given up on after
``max_wait_secs``. The LLM's delays are far longer than the lingers, so a transport that
ended on quiet alone would fail these however fast the machine is."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from voicebot import Bot, EnergyVAD, SilenceTurn, WavFile, tool
from voicebot.testing import FakeLLM, FakeSTT, FakeTTS, ToolCall, run_conversation
from voicebot.transports.wav import WavFileTransport

QUICK_TURNS = dict(vad=EnergyVAD(stop_secs=0.2), turn=SilenceTurn(silence_secs=0.3))
#: No test here may take longer than this, whatever happens.
BOUND_SECS = 60.0


def quick_bot(
    *,
    heard: list[str],
    replies: list[Any],
    ttft_secs: float = 0.05,
    stt_secs: float = 0.05,
    **options: Any,
) -> Bot:
    return Bot(
        stt=FakeSTT(transcripts=heard, latency_secs=stt_secs),
        llm=FakeLLM(replies=replies, ttft_secs=ttft_secs),
        tts=FakeTTS(ttfb_secs=0.05, secs_per_char=0.03),
        **{**QUICK_TURNS, **options},
    )


async def test_a_slow_transcript_still_gets_its_answer_recorded(caller_wav, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # The input ends 0.6 s after the caller stops; the transcript comes 2.5 s after the VAD
    # heard them stop, and only then does the turn end: a call ended on 0.3 s of quiet
    # would be over before the LLM was even asked.
    bot = quick_bot(heard=["What time is it?"], replies=["Ten past nine."], stt_secs=2.5)
    async with asyncio.timeout(BOUND_SECS):
        conv = await run_conversation(
            bot, caller_wav([(0.3, 0.6)], total_secs=1.5), tmp_path / "bot.wav", linger_secs=0.3
        )
    assert conv.transcript == [("user", "What time is it?"), ("bot", "Ten past nine.")]
    (reply,) = conv.bot_speech  # and its audio is in the output file
    assert reply.end - reply.start > 0.2
    assert conv.warnings == []


async def test_a_slow_llm_still_gets_its_last_answer_recorded(caller_wav, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # The session's EndFrame queues behind an answer the LLM has started, so this holds even
    # for a call ended on quiet; it keeps the normal end from becoming a cancel.
    bot = quick_bot(heard=["What time is it?"], replies=["Ten past nine."], ttft_secs=2.5)
    async with asyncio.timeout(BOUND_SECS):
        conv = await run_conversation(
            bot, caller_wav([(0.3, 0.6)], total_secs=1.5), tmp_path / "bot.wav", linger_secs=0.3
        )
    assert conv.transcript == [("user", "What time is it?"), ("bot", "Ten past nine.")]
    (reply,) = conv.bot_speech
    assert reply.end - reply.start > 0.2
    assert conv.warnings == []


async def test_a_background_tool_still_running_when_the_input_ends_is_answered(  # type: ignore[no-untyped-def]
    caller_wav, tmp_path: Path
) -> None:
    release = asyncio.Event()

    @tool(policy="background", ack="On it.")
    async def book(name: str) -> str:
        """Book an appointment."""
        await release.wait()
        return "booked"

    bot = quick_bot(
        heard=["Book Ada in."],
        replies=[ToolCall("book", {"name": "Ada"}), "Ada is booked."],
        tools=[book],
    )
    caller = caller_wav([(0.3, 0.6)], total_secs=1.5)
    transport = WavFile(input=caller, output=tmp_path / "bot.wav", linger_secs=0.3)
    session = bot.session(transport=transport, env={})
    wav = session.transport
    assert isinstance(wav, WavFileTransport)

    async def finish_the_booking_once_the_call_could_have_ended() -> None:
        await wav.input_done.wait()
        await asyncio.sleep(1.0)  # the ack is long over: quiet for more than the linger
        release.set()

    async with asyncio.timeout(BOUND_SECS):
        await asyncio.gather(session.run(), finish_the_booking_once_the_call_could_have_ended())
    assert session.tts.spoken == ["On it.", "Ada is booked."]
    assert wav.gave_up is None


async def test_a_turn_with_nothing_transcribed_owes_no_answer(caller_wav, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # The second utterance gets no transcript: the LLM is never asked, so the call ends on
    # quiet, not after max_wait_secs.
    bot = quick_bot(heard=["Hello."], replies=["Hi."])
    caller = caller_wav([(0.3, 0.6), (2.0, 0.6)], total_secs=3.5)
    transport = WavFile(
        input=caller, output=tmp_path / "bot.wav", linger_secs=0.3, max_wait_secs=BOUND_SECS
    )
    session = bot.session(transport=transport, env={})
    async with asyncio.timeout(BOUND_SECS - 10):
        await session.run()
    assert isinstance(session.transport, WavFileTransport)
    assert session.transport.gave_up is None
    assert [t.bot_text for t in session.turns if t.bot_text] == ["Hi."]


async def test_a_hung_llm_is_given_up_on_after_max_wait_with_a_warning(
    caller_wav, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    bot = quick_bot(heard=["Are you there?"], replies=["Yes."], ttft_secs=3600)
    async with asyncio.timeout(BOUND_SECS):
        conv = await run_conversation(
            bot,
            caller_wav([(0.3, 0.6)], total_secs=1.5),
            tmp_path / "bot.wav",
            linger_secs=0.3,
            max_wait_secs=1.0,
        )
    (warning,) = conv.warnings
    assert "still waiting for the LLM and TTS to finish the answer" in warning
    assert "max_wait_secs" in warning
    assert f"WARNING: {warning}" in conv.report()
    assert conv.transcript == [("user", "Are you there?")]
    assert (tmp_path / "bot.wav").exists()
