"""Blocking tool calls in whole conversations: fillers, concurrency, bad model output,
failures, timeouts and retries. A synthetic caller, energy VAD and a silence turn detector,
so each utterance is heard exactly where it is placed. Where the order of events is the
point, a tool finishes when the conversation reaches a state (``until``), not after a set
time."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger

from tests.conversation.conditions import until
from voicebot import Bot, EnergyVAD, SilenceTurn, ToolCaller, WavFile, tool
from voicebot.audio import read_wav
from voicebot.audio.segments import Segment, speech_segments
from voicebot.testing import FakeLLM, FakeSTT, FakeTTS, ToolCall, write_caller_wav

QUICK_TURNS = dict(vad=EnergyVAD(stop_secs=0.2), turn=SilenceTurn(silence_secs=0.3))


@dataclass
class Run:
    session: Any
    output: Path

    @property
    def caller(self) -> ToolCaller:
        return next(p for p in self.session.pipeline.processors if isinstance(p, ToolCaller))

    @property
    def spoken(self) -> list[str]:
        return self.session.tts.spoken

    @property
    def requests(self) -> list[list[dict[str, Any]]]:
        return self.session.llm.requests

    def bot_speech(self) -> list[Segment]:
        return speech_segments(read_wav(self.output), window_secs=0.005, min_gap_secs=0.3)

    def said(self) -> list[tuple[str, str]]:
        return [(u.kind, u.text) for u in self.caller.said]


async def converse(
    tmp_path: Path,
    utterances: list[tuple[float, float]],
    total_secs: float,
    *,
    heard: list[str],
    replies: list[Any],
    tools: list[Any],
    box: dict[str, Run] | None = None,
    **bot_options: Any,
) -> Run:
    """Run the call; ``box["run"]`` is the run while it goes on (for the tools)."""
    caller = write_caller_wav(tmp_path / "caller.wav", utterances, total_secs=total_secs)
    bot = Bot(
        stt=FakeSTT(transcripts=heard, latency_secs=0.05),
        llm=FakeLLM(replies=replies, ttft_secs=0.05),
        tts=FakeTTS(ttfb_secs=0.05, secs_per_char=0.03),
        tools=tools,
        **{**QUICK_TURNS, **bot_options},
    )
    output = tmp_path / "bot.wav"
    session = bot.session(transport=WavFile(input=caller, output=output, linger_secs=1.0), env={})
    run = Run(session, output)
    if box is not None:
        box["run"] = run
    await session.run()
    return run


def tool_message(request: list[dict[str, Any]]) -> dict[str, Any]:
    return next(m for m in request if m.get("role") == "tool")


# ---- filler ---------------------------------------------------------------------------------


async def test_a_slow_blocking_tool_gets_one_filler_then_its_answer(tmp_path):  # type: ignore[no-untyped-def]
    box: dict[str, Run] = {}
    ran: dict[str, Any] = {}

    @tool(filler_after_secs=0.3)
    async def find_order(number: str) -> dict:
        """Find an order by number."""
        ran["start"] = time.monotonic()
        run = box["run"]
        replies = run.session.conversation
        # The lookup ends once its filler has been said and heard to the end; a filler
        # that is never said makes the wait give up.
        ran["filler_heard"] = (
            await until(lambda: run.caller.said)
            and await until(lambda: replies.bot_speaking)
            and await until(lambda: not replies.bot_speaking)
        )
        await asyncio.sleep(0.5)  # then a silence the caller can hear (at least this long)
        ran["end"] = time.monotonic()
        return {"status": "shipped"}

    run = await converse(
        tmp_path,
        [(0.3, 0.6)],
        4.5,
        heard=["Where is order 12?"],
        replies=[ToolCall("find_order", {"number": "12"}), "It has shipped."],
        tools=[find_order],
        box=box,
    )

    assert ran["filler_heard"]
    assert run.said() == [("filler", "One moment.")]
    assert run.spoken == ["One moment.", "It has shipped."]
    # The filler came after the threshold, while the tool was still running.
    (filler,) = run.caller.said
    assert filler.at - ran["start"] >= 0.3 and filler.at < ran["end"]
    # The caller heard it in the silence before the answer: two stretches of bot audio.
    first, second = run.bot_speech()
    assert first.end < second.start
    (turn,) = run.session.turn_log.user_turns()
    assert turn.bot_text == "One moment. It has shipped."


async def test_a_fast_tool_gets_no_filler_and_a_second_slow_round_no_second_filler(tmp_path):  # type: ignore[no-untyped-def]
    @tool(filler_after_secs=0.3)
    def quick(code: str) -> str:
        """Quick lookup."""
        return "found"

    box: dict[str, Run] = {}

    @tool(filler_after_secs=0.3)
    async def slow(code: str) -> str:
        """Slow lookup."""
        await asyncio.sleep(0.9)  # each lookup outlasts the filler threshold...
        await until(lambda: box["run"].caller.said)  # ...and the first one's filler is said
        return "found"

    run = await converse(
        tmp_path,
        [(0.3, 0.6)],
        5.5,
        heard=["Look up A and B."],
        replies=[
            ToolCall("quick", {"code": "A"}),
            ToolCall("slow", {"code": "A"}),  # the model goes on to another slow tool
            ToolCall("slow", {"code": "B"}),  # and another, with nothing said in between
            "Both found.",
        ],
        tools=[quick, slow],
        box=box,
    )

    # One filler in all that silence: never twice in a row.
    assert run.said() == [("filler", "One moment.")]
    assert run.spoken == ["One moment.", "Both found."]


async def test_no_filler_while_the_caller_is_speaking(tmp_path):  # type: ignore[no-untyped-def]
    @tool(filler_after_secs=1.2)
    async def slow(code: str) -> str:
        """Slow lookup."""
        await asyncio.sleep(2.0)  # outlasts the filler threshold
        return "found"

    # The caller asks (0.3-0.9 s, the call starts at about 1.4 s), then talks again from
    # 1.8 s to 4.2 s, over the moment the filler was due (about 2.6 s: 0.8 s after the bot
    # hears them start, 1.8 s before it hears them stop). Interruptions are off, so the
    # call is not cancelled and only the filler's own check keeps it quiet.
    run = await converse(
        tmp_path,
        [(0.3, 0.6), (1.8, 2.4)],
        6.5,
        heard=["Look up A.", "And quickly please."],
        replies=[ToolCall("slow", {"code": "A"}), "Found it.", "Sure."],
        tools=[slow],
        allow_interruptions=False,
    )

    assert [kind for kind, _ in run.said()] == []
    assert "One moment." not in run.spoken
    assert run.spoken[0] == "Found it."


# ---- concurrency ----------------------------------------------------------------------------


async def test_two_tool_calls_in_one_turn_run_concurrently_and_the_model_answers_once(tmp_path):  # type: ignore[no-untyped-def]
    spans: dict[str, tuple[float, float]] = {}

    async def look(city: str) -> dict:
        start = time.monotonic()
        await asyncio.sleep(0.8)
        spans[city] = (start, time.monotonic())
        return {"city": city, "temp_c": len(city)}

    weather = tool(filler=None, name="weather", description="Weather in a city.")(look)
    run = await converse(
        tmp_path,
        [(0.3, 0.6)],
        4.5,
        heard=["Weather in Rome and Oslo?"],
        replies=[
            [ToolCall("weather", {"city": "Rome"}), ToolCall("weather", {"city": "Oslo"})],
            "Rome four, Oslo four.",
        ],
        tools=[weather],
    )

    (rome_start, rome_end), (oslo_start, oslo_end) = spans["Rome"], spans["Oslo"]
    # Each started before the other finished: they ran at the same time.
    assert rome_start < oslo_end and oslo_start < rome_end
    # One follow-up inference, with both results in it.
    assert len(run.requests) == 2
    results = [json.loads(m["content"]) for m in run.requests[1] if m.get("role") == "tool"]
    assert sorted(r["city"] for r in results) == ["Oslo", "Rome"]
    assert run.spoken == ["Rome four,", "Oslo four."]  # cut at clauses before the TTS


# ---- bad model output -----------------------------------------------------------------------


async def test_malformed_unknown_and_invalid_calls_get_errors_and_good_ones_still_run(tmp_path):  # type: ignore[no-untyped-def]
    booked: list[tuple[str, int]] = []

    @tool
    def book_table(name: str, people: int) -> dict:
        """Book a table."""
        booked.append((name, people))
        return {"table": 4}

    logged: list[str] = []
    sink = logger.add(lambda m: logged.append(m.record["message"]), level="WARNING")
    run = await converse(
        tmp_path,
        [(0.3, 0.6)],
        4.0,
        heard=["Table for two, Ada, and one for Bob."],
        replies=[
            [
                ToolCall("book_table", '{"name": "Ada", "people": 2'),  # malformed JSON
                ToolCall("book_tabel", {"name": "Bob", "people": 1}),  # unknown tool
                ToolCall("book_table", {"name": "Bob", "people": "one"}),  # fails validation
                ToolCall("book_table", '{"name": "Cy", "people": 3}'),  # fine, as raw JSON
            ],
            "Cy is booked; let me fix the others.",
        ],
        tools=[book_table],
    )
    logger.remove(sink)

    assert booked == [("Cy", 3)]
    follow_up = run.requests[1]
    calls = [c for m in follow_up for c in m.get("tool_calls", [])]
    results = {m["tool_call_id"]: m["content"] for m in follow_up if m.get("role") == "tool"}
    by_call = [results[c["id"]] for c in calls]
    malformed, unknown, invalid, fine = by_call
    assert "not valid JSON" in malformed and '\\"people\\": 2' in malformed
    assert "book_tabel" in unknown and "not currently available" in unknown
    assert "invalid arguments for book_table" in invalid and "people" in invalid
    assert json.loads(fine) == {"table": 4}
    # Every call is in the context with arguments that are JSON, so the next request is valid.
    for call in calls:
        json.loads(call["function"]["arguments"])
    # Each is logged with the tool's name (the unknown one by Pipecat).
    assert any("'book_tabel'" in line for line in logged)
    assert sum(line.startswith("tool book_table: model sent invalid") for line in logged) == 2
    # Nothing was apologised for: the model can fix its own calls.
    assert run.said() == []
    assert run.spoken == ["Cy is booked;", "let me fix the others."]  # clauses, for the TTS


# ---- failures, timeouts, retries ------------------------------------------------------------


async def test_a_failing_tool_is_apologised_for_when_the_model_says_nothing(tmp_path):  # type: ignore[no-untyped-def]
    @tool
    def check_stock(item: str) -> int:
        """Check stock."""
        raise RuntimeError("inventory database is down")

    run = await converse(
        tmp_path,
        [(0.3, 0.6), (4.0, 0.6)],
        6.5,
        heard=["Any pears?", "Never mind, bye."],
        replies=[ToolCall("check_stock", {"item": "pears"}), "", "Goodbye!"],
        tools=[check_stock],
    )

    # The model read the error and answered with nothing, so voicebot apologised.
    assert tool_message(run.requests[1])["content"] == json.dumps(
        {"error": "check_stock failed: inventory database is down"}
    )
    assert run.said() == [("apology", "Sorry, that didn't work.")]
    # The session went on: the next turn was answered.
    assert run.spoken == ["Sorry, that didn't work.", "Goodbye!"]
    first, second = run.session.turn_log.user_turns()
    assert first.bot_text == "Sorry, that didn't work." and second.bot_text == "Goodbye!"
    assert {"role": "assistant", "content": "Sorry, that didn't work."} in run.requests[2]


async def test_a_failing_tool_is_not_apologised_for_twice(tmp_path):  # type: ignore[no-untyped-def]
    @tool(apology="Sorry about that.")
    def check_stock(item: str) -> int:
        """Check stock."""
        raise RuntimeError("inventory database is down")

    run = await converse(
        tmp_path,
        [(0.3, 0.6)],
        3.5,
        heard=["Any pears?"],
        replies=[ToolCall("check_stock", {"item": "pears"}), "I can't check stock right now."],
        tools=[check_stock],
    )
    assert run.said() == []
    assert run.spoken == ["I can't check stock right now."]


async def test_a_timeout_is_apologised_for_at_once_and_noted_for_the_model(tmp_path):  # type: ignore[no-untyped-def]
    cancelled = asyncio.Event()

    @tool(timeout_secs=0.4, filler=None)
    async def book(day: str) -> dict:
        """Book a slot."""
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return {"booked": day}

    run = await converse(
        tmp_path,
        [(0.3, 0.6)],
        4.0,
        heard=["Book Monday."],
        replies=[ToolCall("book", {"day": "Monday"}), "Shall I try again?"],
        tools=[book],
    )

    assert cancelled.is_set()
    assert run.said() == [("apology", "Sorry, that didn't work.")]
    # The apology first, then the model, which read the note and offers a way on.
    assert run.spoken == ["Sorry, that didn't work.", "Shall I try again?"]
    note = json.loads(tool_message(run.requests[1])["content"])
    assert "book timed out after 0.4 seconds" in note["error"]
    assert "without apologising again" in note["error"]


async def test_an_idempotent_tool_is_retried_until_it_answers(tmp_path):  # type: ignore[no-untyped-def]
    attempts: list[float] = []

    @tool(idempotent=True, retries=2, timeout_secs=0.3, filler=None)
    async def rates(currency: str) -> dict:
        """Exchange rate of a currency."""
        attempts.append(time.monotonic())
        if len(attempts) < 3:
            await asyncio.sleep(5)  # the first two attempts hang
        return {"eur": 0.9}

    run = await converse(
        tmp_path,
        [(0.3, 0.6)],
        4.5,
        heard=["Dollar rate?"],
        replies=[ToolCall("rates", {"currency": "USD"}), "Ninety cents."],
        tools=[rates],
    )

    assert len(attempts) == 3
    # Each retry started only after the previous attempt's timeout.
    assert attempts[1] - attempts[0] >= 0.3 and attempts[2] - attempts[1] >= 0.3
    assert json.loads(tool_message(run.requests[1])["content"]) == {"eur": 0.9}
    assert run.said() == [] and run.spoken == ["Ninety cents."]
