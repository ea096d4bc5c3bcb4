"""Background tools and interruptions in whole conversations: the acknowledgement is said
without waiting for the tool or the model, the result is spoken when nobody is talking, and
the caller speaking cancels a call only when the tool says so.

The tools here finish when the conversation reaches a given point (the ack being heard, the
caller talking, the model asked again), not after a set time, so what each test sets up
happens in the same order however slow the machine."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from tests.conversation.conditions import until
from voicebot import Bot, EnergyVAD, SilenceTurn, ToolCaller, WavFile, tool
from voicebot.audio import read_wav
from voicebot.audio.segments import Segment, speech_segments
from voicebot.testing import FakeLLM, FakeSTT, FakeTTS, ToolCall, write_caller_wav

QUICK_TURNS = dict(vad=EnergyVAD(stop_secs=0.2), turn=SilenceTurn(silence_secs=0.3))
BOOKED = {"booked": True, "ref": "B-7"}


async def converse(
    tmp_path: Path,
    utterances: list[tuple[float, float]],
    total_secs: float,
    *,
    heard: list[str],
    replies: list[Any],
    tools: list[Any],
    box: dict[str, Any] | None = None,
    ttft_secs: float = 0.05,
) -> Any:
    """Run the call; ``box["session"]`` is the session while it runs (for the tools)."""
    caller = write_caller_wav(tmp_path / "caller.wav", utterances, total_secs=total_secs)
    bot = Bot(
        stt=FakeSTT(transcripts=heard, latency_secs=0.05),
        llm=FakeLLM(replies=replies, ttft_secs=ttft_secs),
        tts=FakeTTS(ttfb_secs=0.05, secs_per_char=0.03),
        tools=tools,
        **QUICK_TURNS,
    )
    session = bot.session(
        transport=WavFile(input=caller, output=tmp_path / "bot.wav", linger_secs=1.0), env={}
    )
    if box is not None:
        box["session"] = session
    await session.run()
    return session


def bot_speech(tmp_path: Path) -> list[Segment]:
    return speech_segments(read_wav(tmp_path / "bot.wav"), window_secs=0.005, min_gap_secs=0.1)


def caller_of(session: Any) -> ToolCaller:
    return next(p for p in session.pipeline.processors if isinstance(p, ToolCaller))


def first_after(segments: list[Segment], t: float) -> Segment:
    return next(s for s in segments if s.start >= t)


ACK = "I'm booking that now, it takes a moment, please stay on the line."


async def test_the_ack_is_said_at_once_and_the_result_is_spoken_after_it(tmp_path):  # type: ignore[no-untyped-def]
    box: dict[str, Any] = {}
    ran: dict[str, Any] = {}

    @tool(policy="background", ack=ACK)
    async def book(name: str) -> dict:
        """Book an appointment."""
        session = box["session"]
        # The booking finishes once its ack is being heard: an ack that waited for the
        # result (or for another model round) would never be, and the wait would give up.
        ran["ack_heard"] = await until(
            lambda: ACK in session.tts.spoken and session.conversation.bot_speaking
        )
        ran["requests_by_then"] = len(session.llm.requests)
        ran["end"] = session.transport.timeline.now()  # where on the call's timeline
        return BOOKED

    session = await converse(
        tmp_path,
        [(0.3, 0.6), (3.0, 0.6)],
        8.0,
        heard=["Hello.", "Book me in, Ada."],
        replies=["Hello there.", ToolCall("book", {"name": "Ada"}), "You're booked, B-7."],
        tools=[book],
        box=box,
        ttft_secs=0.2,  # ack and result are 0.25 s apart: two segments, by construction
    )

    # Replies reach the TTS cut at clauses (voicebot.text.clauses).
    assert session.tts.spoken == ["Hello there.", ACK, "You're booked,", "B-7."]
    # The ack adds no dead air: it is heard while the tool runs, and the model was asked
    # nothing after the call itself (a plain answer's one round trip, no more).
    assert ran["ack_heard"], "the ack was not heard before the tool finished"
    assert ran["requests_by_then"] == 2
    _hello, ack, result = bot_speech(tmp_path)
    # The booking finished mid-ack; its result waited for the ack to end, not cut into it.
    assert ran["end"] < ack.end
    assert result.start > ack.end
    # The result reached the context (in place of Pipecat's placeholder) before the model
    # was asked to speak it.
    last = session.llm.requests[-1]
    tool_message = next(m for m in last if m.get("role") == "tool")
    assert json.loads(tool_message["content"]) == BOOKED
    (_, turn) = session.turn_log.user_turns()
    assert turn.bot_text == f"{ACK} You're booked, B-7."


async def test_a_result_that_arrives_while_the_caller_talks_waits_for_them(tmp_path):  # type: ignore[no-untyped-def]
    box: dict[str, Any] = {}
    ran: dict[str, bool] = {}

    @tool(policy="background", ack="On it.")
    async def book(name: str) -> dict:
        """Book an appointment."""
        # Done once the bot hears the caller talking again (3.0-4.5 s).
        ran["while_talking"] = await until(lambda: caller_of(box["session"]).user_speaking)
        return BOOKED

    session = await converse(
        tmp_path,
        [(0.3, 0.6), (3.0, 1.5)],
        8.0,
        heard=["Book me in, Ada.", "And what should I bring?"],
        replies=[ToolCall("book", {"name": "Ada"}), "Just your card.", "You're booked, B-7."],
        tools=[book],
        box=box,
    )

    assert ran["while_talking"]  # the result came while the caller spoke
    # The caller's question was answered first; the booking result came after, on its own.
    # Replies reach the TTS cut at clauses (voicebot.text.clauses).
    assert session.tts.spoken == ["On it.", "Just your card.", "You're booked,", "B-7."]
    answer_request, result_request = session.llm.requests[1:]
    assert not any(m.get("role") == "developer" for m in answer_request)
    developer = [m for m in result_request if m.get("role") == "developer"]
    assert len(developer) == 1 and '\\"ref\\": \\"B-7\\"' in developer[0]["content"]
    # Nothing the bot said overlaps the caller's second utterance.
    for segment in bot_speech(tmp_path):
        assert segment.end <= 3.0 or segment.start >= 4.5
    # "On it." was heard whole before the caller spoke again: the first turn (still open for
    # its background call) was not interrupted.
    first = session.turn_log.user_turns()[0]
    assert first.bot_text.startswith("On it.") and not first.interrupted


async def test_without_an_ack_the_model_speaks_over_the_running_placeholder(tmp_path):  # type: ignore[no-untyped-def]
    box: dict[str, Any] = {}

    @tool(policy="background")
    async def send_confirmation(email: str) -> str:
        """Email a confirmation."""
        # Sent once the model has been run again while the call is still going.
        await until(lambda: len(box["session"].llm.requests) >= 2)
        return "sent"

    session = await converse(
        tmp_path,
        [(0.3, 0.6)],
        4.5,
        heard=["Email me the confirmation."],
        replies=[
            ToolCall("send_confirmation", {"email": "ada@example.com"}),
            "Sending it now.",
            "It's in your inbox.",
        ],
        tools=[send_confirmation],
        box=box,
    )

    assert caller_of(session).said == []
    assert session.tts.spoken == ["Sending it now.", "It's in your inbox."]
    # The model was run at once, with Pipecat's "still running" placeholder as the result...
    placeholder = next(m for m in session.llm.requests[1] if m.get("role") == "tool")
    assert json.loads(placeholder["content"])["status"] == "running"
    # ...and again with the result once it came.
    result = next(m for m in session.llm.requests[2] if m.get("role") == "tool")
    assert json.loads(result["content"]) == "sent"


async def test_the_caller_speaking_cancels_an_interruptible_call(tmp_path):  # type: ignore[no-untyped-def]
    events: list[str] = []

    @tool(filler=None)
    async def search(query: str) -> str:
        """Search the catalogue."""
        events.append("start")
        try:
            await asyncio.sleep(20)  # until cancelled; a call that is not, fails the test
        except asyncio.CancelledError:
            events.append("cancelled")
            raise
        events.append("done")
        return "found"

    session = await converse(
        tmp_path,
        [(0.3, 0.6), (2.0, 0.6)],
        4.5,
        heard=["Search for red shoes.", "Actually, forget it."],
        replies=[ToolCall("search", {"query": "red shoes"}), "Okay, forgotten."],
        tools=[search],
    )

    assert events == ["start", "cancelled"]
    assert session.tts.spoken == ["Okay, forgotten."]
    last = session.llm.requests[-1]
    assert next(m for m in last if m.get("role") == "tool")["content"] == "CANCELLED"
    assert last[-1] == {"role": "user", "content": "Actually, forget it."}


async def test_a_turn_whose_blocking_call_the_caller_cancels_is_interrupted(tmp_path):  # type: ignore[no-untyped-def]
    @tool(ack="Let me look.", filler=None)
    async def search(query: str) -> str:
        """Search the catalogue."""
        await asyncio.sleep(20)  # until the caller's next words cancel it
        return "found"

    session = await converse(
        tmp_path,
        [(0.3, 0.6), (2.5, 0.6)],
        5.0,
        heard=["Search for red shoes.", "Actually, forget it."],
        replies=[ToolCall("search", {"query": "red shoes"}), "Okay, forgotten."],
        tools=[search],
    )

    first, second = session.turn_log.user_turns()
    # The ack was heard whole, but the answer it promised never came: the caller's words
    # cut the turn short (a background call's open turn is not: the test above).
    assert first.bot_text == "Let me look." and first.interrupted
    assert second.bot_text == "Okay, forgotten." and not second.interrupted


async def test_a_call_that_is_not_cancelled_on_interruption_finishes_and_is_reported(tmp_path):  # type: ignore[no-untyped-def]
    box: dict[str, Any] = {}
    events: list[str] = []

    @tool(cancel_on_interruption=False, filler=None)
    async def search(query: str) -> str:
        """Search the catalogue."""
        events.append("start")
        # Done once the model has been asked about the caller's next turn.
        await until(lambda: len(box["session"].llm.requests) >= 2)
        events.append("done")
        return "found 3 pairs"

    session = await converse(
        tmp_path,
        [(0.3, 0.6), (2.0, 0.6)],
        5.5,
        heard=["Search for red shoes.", "In size 40."],
        replies=[
            ToolCall("search", {"query": "red shoes"}),
            "Size 40, noted.",
            "I found three pairs.",
        ],
        tools=[search],
        box=box,
    )

    assert events == ["start", "done"]
    # Replies reach the TTS cut at clauses (voicebot.text.clauses).
    assert session.tts.spoken == ["Size 40,", "noted.", "I found three pairs."]
    # The result arrived after the conversation moved on: Pipecat's deferred message.
    developer = [m for m in session.llm.requests[-1] if m.get("role") == "developer"]
    assert len(developer) == 1 and "found 3 pairs" in developer[0]["content"]
