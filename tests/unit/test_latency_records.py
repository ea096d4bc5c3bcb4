"""Turn records, latency summaries, budgets, the report and Prometheus collectors, on
hand-made turns (no pipeline runs here)."""

from __future__ import annotations

import json

import pytest

from voicebot.metrics import STAGES, StageSpan, ToolCallRecord, TurnRecord, summarize
from voicebot.metrics.report import render_html, write_report
from voicebot.metrics.stats import turn_table
from voicebot.testing import LatencyBudget


def turn(i: int, v2v: float | None, *, caller: float | None = None, llm: float = 0.3) -> TurnRecord:
    if v2v is None:
        return TurnRecord(index=i, user_text=f"question {i}", session_id="s1")
    stages = {
        "endpointing_wait": 0.2,
        "transcription": 0.1,
        "turn_detection": 0.05,
        "llm_inference": llm,
        "speech_synthesis": 0.1,
    }
    stages["pipeline"] = v2v - sum(stages.values())
    spans, at = [], 0.0
    for key, secs in stages.items():
        if key != "pipeline":
            spans.append(StageSpan(key, at, secs, "owner"))
            at += secs
    return TurnRecord(
        index=i,
        user_text=f"question {i}",
        bot_text="answer",
        voice_to_voice_secs=v2v,
        caller_voice_to_voice_secs=caller,
        stages=stages,
        spans=spans,
        session_id="s1",
        user_started_at=100.0 + 5 * i,
        user_stopped_at=101.0 + 5 * i,
        bot_started_at=101.0 + 5 * i + v2v,
        bot_stopped_at=102.5 + 5 * i + v2v,
    )


def test_named_stages_read_the_breakdown() -> None:
    t = turn(1, 0.8)
    assert t.endpointing_wait_secs == 0.2
    assert t.stt_finalization_secs == 0.1
    assert t.turn_decision_secs == 0.05
    assert t.llm_ttft_secs == 0.3
    assert t.tts_first_audio_secs == 0.1
    assert t.first_sentence_secs == 0.0  # measured, but under Pipecat's 5 ms threshold
    assert t.transport_secs == 0.0
    assert t.tools_secs == 0.0
    assert t.pipeline_secs == pytest.approx(0.05)
    unmeasured = turn(2, None)
    assert unmeasured.llm_ttft_secs is None and unmeasured.endpointing_wait_secs is None
    assert [s.key for s in STAGES][:4] == [
        "endpointing_wait",
        "transcription",
        "turn_detection",
        "llm_inference",
    ]


def test_turn_records_round_trip_through_json() -> None:
    t = turn(1, 0.8)
    t.tool_calls.append(ToolCallRecord("hours", "c1", {"day": "mon"}, "9-5", True))
    line = json.dumps(t.to_dict())
    back = TurnRecord.from_dict({**json.loads(line), "added_in_a_later_version": 1})
    assert back == t


def test_summary_gives_p50_p95_and_per_stage_figures() -> None:
    turns = [TurnRecord(index=0, bot_text="Hello!")]  # a greeting is not a user turn
    turns += [turn(i, v) for i, v in enumerate([0.6, 0.7, 0.8, 0.9, 1.0], 1)]
    turns.append(turn(6, None))
    s = summarize(turns)
    assert (s.turns, s.measured, s.measure) == (6, 5, "bot")
    assert s.p50_secs == pytest.approx(0.8)
    assert s.p95_secs == pytest.approx(0.98)
    assert s.max_secs == 1.0 and s.last_secs == 1.0
    assert s.stage_p50_secs["llm_inference"] == pytest.approx(0.3)
    assert "p95 0.980s" in str(s)
    # "auto" uses the caller-side figure only when every measured turn has one.
    with_caller = [turn(1, 0.8, caller=0.85), turn(2, 0.9, caller=0.95)]
    assert summarize(with_caller, "auto").measure == "caller"
    assert summarize([*with_caller, turn(3, 0.7)], "auto").measure == "bot"


def test_budget_passes_and_returns_the_summary() -> None:
    summary = LatencyBudget(p95_secs=1.0, p50_secs=0.9).check([turn(1, 0.7), turn(2, 0.8)])
    assert summary.measured == 2


def test_budget_miss_names_the_limit_and_shows_every_turn() -> None:
    turns = [turn(1, 0.7), turn(2, 1.4, llm=0.9), turn(3, 0.75)]
    with pytest.raises(AssertionError) as e:
        LatencyBudget(p95_secs=0.8, stage_p95_secs={"llm_inference": 0.5}).check(turns)
    msg = str(e.value)
    assert "p95 voice-to-voice 1.335s > budget 0.800s" in msg
    assert "LLM first token (llm_inference) p95 0.840s > budget 0.500s" in msg
    lines = msg.splitlines()
    header = next(line for line in lines if line.startswith("turn"))
    for column in ("endpoint", "stt", "turn", "llm", "tts", "other", "user said"):
        assert column in header
    assert any(line.lstrip().startswith("2!") and "1.400" in line for line in lines)
    assert "(! = over 0.800s: turn 2)" in msg


def test_budget_with_no_measured_turns_fails() -> None:
    with pytest.raises(AssertionError, match="0 measured user turns"):
        LatencyBudget(p95_secs=10).check([turn(1, None)])
    with pytest.raises(TypeError):
        LatencyBudget().check(42)


def test_turn_table_shows_caller_and_in_bot_columns() -> None:
    table = turn_table([turn(1, 0.8, caller=0.85), turn(2, 0.9, caller=0.97)])
    assert "v2v(caller)" in table.splitlines()[0] and "in-bot" in table.splitlines()[0]
    assert table.splitlines()[-1].lstrip().startswith("p95")


def test_html_report_is_self_contained_with_one_group_per_user_turn(tmp_path) -> None:  # type: ignore[no-untyped-def]
    turns = [turn(1, 0.8), turn(2, None), turn(3, 1.1)]
    page = render_html(turns)
    assert page.count('<g class="turn"') == 3
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page
    path = tmp_path / "turns.jsonl"
    path.write_text("\n".join(json.dumps(t.to_dict()) for t in turns) + "\n")
    html_path, png_path = write_report(path, tmp_path / "out" / "latency.html")
    assert html_path == tmp_path / "out" / "latency.html"
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_prometheus_collectors_count_turns() -> None:
    prometheus_client = pytest.importorskip("prometheus_client")
    from voicebot.metrics import LatencyMetrics

    metrics = LatencyMetrics(registry=prometheus_client.CollectorRegistry())
    interrupted = turn(2, 0.9)
    interrupted.interrupted = True
    interrupted.tool_calls.append(ToolCallRecord("hours", "c1", {}, "9-5", True))
    for t in [TurnRecord(index=0, bot_text="Hi"), turn(1, 0.7), interrupted, turn(3, None)]:
        metrics.observe(t)
    text = metrics.exposition().decode()
    assert "voicebot_turns_total 3.0" in text
    assert "voicebot_interruptions_total 1.0" in text
    assert "voicebot_unanswered_turns_total 1.0" in text
    assert "voicebot_voice_to_voice_seconds_count 2.0" in text
    assert 'voicebot_voice_to_voice_seconds_bucket{le="0.8"} 1.0' in text
    assert 'voicebot_turn_stage_seconds_count{stage="llm_inference"} 2.0' in text
    assert 'voicebot_tool_calls_total{tool="hours"} 1.0' in text


def test_prometheus_counts_retrieval_outcomes() -> None:
    prometheus_client = pytest.importorskip("prometheus_client")
    from voicebot.knowledge import RetrievalRecord
    from voicebot.metrics import LatencyMetrics

    metrics = LatencyMetrics(registry=prometheus_client.CollectorRegistry())
    outcomes = [
        RetrievalRecord("a", in_time=True, waited_secs=0.0, secs=0.02, sources=["kb#1"]),
        RetrievalRecord("b", in_time=False, waited_secs=0.1),
        RetrievalRecord("c", in_time=True, waited_secs=0.0, secs=0.01, error="Boom: down"),
    ]
    for i, found in enumerate(outcomes):
        t = turn(i + 1, 0.8)
        t.retrieval = found
        metrics.observe(t)
    metrics.observe(turn(9, 0.8))  # a turn without RAG counts nowhere
    text = metrics.exposition().decode()
    for outcome in ("in_time", "late", "error"):
        assert f'voicebot_retrievals_total{{outcome="{outcome}"}} 1.0' in text
    assert "voicebot_retrieval_seconds_count 1.0" in text  # only the search that made it
    assert "voicebot_retrieval_held_seconds_count 3.0" in text


def test_the_turn_log_watches_the_frames_pipecats_latency_observer_needs() -> None:
    from pipecat.frames.frames import (
        BotStartedSpeakingFrame,
        InputAudioRawFrame,
        LLMFullResponseStartFrame,
        MetricsFrame,
        TranscriptionFrame,
        TTSAudioRawFrame,
        VADUserStoppedSpeakingFrame,
    )

    from voicebot.metrics.turn_log import WATCHED

    for needed in (
        BotStartedSpeakingFrame,
        LLMFullResponseStartFrame,
        MetricsFrame,
        TranscriptionFrame,
        TTSAudioRawFrame,
        VADUserStoppedSpeakingFrame,
    ):
        assert needed in WATCHED
    # The frames that make up almost all of a session's traffic are not handed over.
    assert not issubclass(InputAudioRawFrame, WATCHED)


def test_report_command_explains_a_missing_file(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from voicebot.cli import main

    assert main(["report", str(tmp_path / "nope.jsonl")]) == 2
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    assert main(["report", str(bad)]) == 2
    assert "bad.jsonl:1: not a turn record" in capsys.readouterr().err


def test_turns_jsonl_hook_appends_lines(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from voicebot.metrics import TurnsJsonl

    hook = TurnsJsonl(tmp_path / "deep" / "turns.jsonl")
    hook(turn(1, 0.8))
    hook(turn(2, None))
    lines = (tmp_path / "deep" / "turns.jsonl").read_text().splitlines()
    assert [TurnRecord.from_dict(json.loads(x)).index for x in lines] == [1, 2]
