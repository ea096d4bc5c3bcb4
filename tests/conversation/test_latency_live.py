"""Latency you can see, on one fake conversation run with every export switched on: turn
hooks, live stats, a turns JSONL file, Prometheus scraped over HTTP, OpenTelemetry spans,
the report, and latency budgets. No timing targets: only what happened and in what order."""

from __future__ import annotations

import asyncio
import itertools
import json
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from voicebot import Bot, EnergyVAD, Prometheus, SilenceTurn, tool
from voicebot.metrics import LatencySummary, TurnRecord
from voicebot.testing import (
    Conversation,
    FakeLLM,
    FakeSTT,
    FakeTTS,
    LatencyBudget,
    ToolCall,
    run_conversation,
    write_caller_wav,
)

LONG_REPLY = "On Sunday we open late and close early, so come by in the afternoon. " * 2


@dataclass
class Run:
    conv: Conversation
    hooked: list[TurnRecord]
    jsonl: Path
    scraped_before: dict[str, float]
    scraped_after: dict[str, float]
    metrics_text: str
    spans: list[Any] = field(default_factory=list)


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        return str(r.read().decode())


def samples(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def in_memory_exporter() -> Any:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from voicebot.metrics import setup_tracing

    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):  # set up already in this process
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        setup_tracing(exporter)
    return exporter


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    pytest.importorskip("prometheus_client")
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry import trace

    tmp = tmp_path_factory.mktemp("latency")
    caller = write_caller_wav(
        tmp / "caller.wav", [(0.3, 0.6), (3.5, 0.6), (6.0, 0.5)], total_secs=8.5
    )

    @tool
    def opening_hours(day: str) -> str:
        """Opening hours on a day of the week."""
        return "closed" if day == "sunday" else "nine to six"

    hooked: list[TurnRecord] = []
    exporter = in_memory_exporter()
    prometheus = Prometheus(port=0, host="127.0.0.1")
    port = prometheus.start()
    assert port
    before = samples(scrape(port))
    bot = Bot(
        stt=FakeSTT(transcripts=["When do you open?", "And on Sunday?", "Stop."]),
        llm=FakeLLM(
            replies=[ToolCall("opening_hours", {"day": "monday"}), "Nine to six.", LONG_REPLY],
            ttft_secs=0.1,
        ),
        tts=FakeTTS(ttfb_secs=0.05, secs_per_char=0.03),
        tools=[opening_hours],
        vad=EnergyVAD(stop_secs=0.2),
        turn=SilenceTurn(silence_secs=0.3),
        on_turn=hooked.append,
        turns_jsonl=tmp / "live" / "turns.jsonl",
        tracing=True,
        prometheus=prometheus,
    )

    conv = asyncio.run(run_conversation(bot, caller, tmp / "bot.wav", env={}, linger_secs=1.0))
    text = scrape(port)
    prometheus.stop()
    provider = trace.get_tracer_provider()
    provider.force_flush()  # type: ignore[attr-defined]
    return Run(
        conv,
        hooked,
        tmp / "live" / "turns.jsonl",
        before,
        samples(text),
        text,
        list(exporter.get_finished_spans()),
    )


def test_each_turn_reaches_the_hooks_once_complete_and_in_order(run: Run) -> None:
    first, second, third = run.conv.user_turns
    assert [t.user_text for t in run.hooked] == [t.user_text for t in run.conv.user_turns]
    assert all(t.completed_at is not None for t in run.hooked)
    # Turn 1 (a tool call, then "Nine to six."): complete once the bot finished speaking
    # the answer after the tool, before the caller spoke again.
    assert first.tool_calls[0].result == "nine to six" and first.bot_text == "Nine to six."
    assert first.bot_stopped_at is not None and first.completed_at is not None
    assert second.user_started_at is not None
    assert first.bot_stopped_at <= first.completed_at < second.user_started_at
    # Turn 2 was cut off by the caller: complete at the interruption, before turn 3 ended.
    assert second.interrupted and second.completed_at is not None
    assert third.user_stopped_at is not None and second.completed_at < third.user_stopped_at + 1
    assert not third.interrupted and third.completed_at is not None


def test_turn_records_name_every_stage_with_offsets(run: Run) -> None:
    for t in run.conv.user_turns:
        assert t.voice_to_voice_secs is not None
        for name in (
            "endpointing_wait_secs",
            "stt_finalization_secs",
            "turn_decision_secs",
            "llm_ttft_secs",
            "first_sentence_secs",
            "tts_first_audio_secs",
            "transport_secs",
        ):
            assert isinstance(getattr(t, name), float), name
        assert t.endpointing_wait_secs == pytest.approx(0.2, abs=0.01)
        assert sum(t.stages.values()) == pytest.approx(t.voice_to_voice_secs, abs=1e-6)
        named = [s for s in t.spans if s.key != "pipeline"]
        assert named[0].key == "endpointing_wait" and named[0].start_secs == pytest.approx(0)
        assert all(a.start_secs <= b.start_secs for a, b in itertools.pairwise(named))
        last = named[-1]
        assert last.start_secs + last.secs <= t.voice_to_voice_secs + 1e-6
        assert t.session_id == run.conv.turns[0].session_id


async def test_session_hooks_see_live_latency_grow_turn_by_turn(tmp_path: Path) -> None:
    from voicebot import WavFile

    caller = write_caller_wav(tmp_path / "caller.wav", [(0.3, 0.5), (2.3, 0.5)], total_secs=4.0)
    bot = Bot(
        stt=FakeSTT(transcripts=["One.", "Two."], latency_secs=0.05),
        llm=FakeLLM(ttft_secs=0.05),
        tts=FakeTTS(ttfb_secs=0.05, secs_per_char=0.02),
        vad=EnergyVAD(stop_secs=0.2),
        turn=SilenceTurn(silence_secs=0.3),
    )
    session = bot.session(
        transport=WavFile(input=caller, output=tmp_path / "bot.wav", linger_secs=0.5), env={}
    )
    seen: list[tuple[str, LatencySummary]] = []

    @session.on_turn
    async def record(turn: TurnRecord) -> None:
        await asyncio.sleep(0)
        seen.append((turn.user_text, session.latency))

    def broken(turn: TurnRecord) -> None:
        raise RuntimeError("a broken hook does not stop the session")

    session.on_turn(broken)
    await session.run()

    assert [text for text, _ in seen] == ["One.", "Two."]
    assert [s.measured for _, s in seen] == [1, 2]
    final = seen[-1][1]
    assert final.p50_secs is not None and final.p95_secs is not None
    assert final.p50_secs <= final.p95_secs <= (final.max_secs or 0)
    assert "llm_inference" in final.stage_p95_secs
    assert session.latency == final
    assert all(t.session_id == session.id for t in session.turns)


def test_turns_jsonl_has_one_line_per_completed_turn(run: Run) -> None:
    lines = run.jsonl.read_text().splitlines()
    records = [TurnRecord.from_dict(json.loads(line)) for line in lines]
    # The hooks' records are the session's own, which the runner later gives caller-side
    # timings; the lines were written before that.
    assert all(r.caller_voice_to_voice_secs is None for r in records)
    hooked = [
        TurnRecord.from_dict({**t.to_dict(), "caller_voice_to_voice_secs": None})
        for t in run.hooked
    ]
    assert records == hooked


def test_generous_budget_holds_with_fake_providers(run: Run) -> None:
    # Stage floors here: 0.2 VAD + 0.3 silence + 0.1-0.2 LLM + 0.05 TTS; 3 s leaves room for
    # a loaded 2-core machine.
    summary = LatencyBudget(p95_secs=3.0, stage_p95_secs={"endpointing_wait": 0.5}).check(run.conv)
    assert summary.measured == 3 and summary.measure == "caller"


def test_too_tight_budget_fails_with_a_per_turn_table(run: Run) -> None:
    with pytest.raises(AssertionError) as e:
        LatencyBudget(p95_secs=0.1).check(run.conv)
    msg = str(e.value)
    assert msg.startswith("latency budget missed (3 user turns, voice-to-voice read off")
    assert "p95 voice-to-voice" in msg and "> budget 0.100s" in msg
    assert "turn decision" in msg  # the largest stages are named
    table = msg.splitlines()
    assert sum(1 for line in table if line.lstrip()[:2] in ("1!", "2!", "3!")) == 3
    assert "'When do you open?'" in msg and "[interrupted]" in msg


def test_prometheus_endpoint_counts_turns_and_sessions(run: Run) -> None:
    def delta(name: str) -> float:
        return run.scraped_after.get(name, 0.0) - run.scraped_before.get(name, 0.0)

    assert "# TYPE voicebot_voice_to_voice_seconds histogram" in run.metrics_text
    assert delta("voicebot_voice_to_voice_seconds_count") == 3
    assert delta('voicebot_voice_to_voice_seconds_bucket{le="+Inf"}') == 3
    assert delta('voicebot_turn_stage_seconds_count{stage="llm_inference"}') == 3
    assert delta("voicebot_turns_total") == 3
    assert delta("voicebot_interruptions_total") == 1
    assert delta('voicebot_tool_calls_total{tool="opening_hours"}') == 1
    assert delta("voicebot_sessions_total") == 1
    assert delta("voicebot_sessions_active") == 0


def test_tracing_gives_conversation_turn_and_stage_spans(run: Run) -> None:
    session_id = run.conv.turns[0].session_id
    by_name: dict[str, list[Any]] = {}
    for span in run.spans:
        by_name.setdefault(span.name, []).append(span)
    (conversation,) = [
        s for s in by_name["conversation"] if s.attributes.get("conversation.id") == session_id
    ]
    turns = [
        s for s in by_name["turn"] if s.parent and s.parent.span_id == conversation.context.span_id
    ]
    assert len(turns) >= 3
    latencies = [
        s.attributes["turn.user_bot_latency_seconds"]
        for s in turns
        if "turn.user_bot_latency_seconds" in s.attributes
    ]
    assert len(latencies) == 3
    turn_ids = {s.context.span_id for s in turns}
    llm = [s for s in by_name["llm_inference"] if s.attributes["voicebot.session_id"] == session_id]
    assert len(llm) >= 3 and all(s.parent.span_id in turn_ids for s in llm)
    assert all(s.end_time > s.start_time for s in llm)
    assert {"endpointing_wait", "turn_detection", "speech_synthesis"} <= set(by_name)


def test_report_draws_the_live_turns(run: Run, tmp_path: Path) -> None:
    from voicebot.cli import main

    assert main(["report", str(run.jsonl), "-o", str(tmp_path / "latency")]) == 0
    page = (tmp_path / "latency.html").read_text()
    assert page.count('<g class="turn"') == 3
    assert "http://" not in page and "https://" not in page
    assert (tmp_path / "latency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
