"""Per-turn records and latency: what each turn took, live and afterwards.

    STAGES, Stage                 the named stages of a turn's latency        stages.py
    TurnRecord, StageSpan, ...    one turn as data (JSONL-able)               records.py
    TurnLog                       the observer writing a session's turns      turn_log.py
    summarize, LatencySummary,    p50/p95 of voice-to-voice and each stage    stats.py
      percentile
    TurnsJsonl                    a hook writing one JSON line per turn       live.py
    Prometheus, LatencyMetrics    /metrics for served bots                    prometheus.py
    setup_tracing                 OpenTelemetry spans via Pipecat             tracing.py
    voicebot.metrics.report       the timeline picture (PNG and HTML)         report.py

See docs/latency.md.
"""

from voicebot.metrics.live import TurnsJsonl
from voicebot.metrics.prometheus import LatencyMetrics, Prometheus
from voicebot.metrics.records import StageSpan, ToolCallRecord, TurnRecord
from voicebot.metrics.stages import STAGES, Stage
from voicebot.metrics.stats import LatencySummary, percentile, summarize
from voicebot.metrics.tracing import setup_tracing
from voicebot.metrics.turn_log import TurnHook, TurnLog

__all__ = [
    "STAGES",
    "LatencyMetrics",
    "LatencySummary",
    "Prometheus",
    "Stage",
    "StageSpan",
    "ToolCallRecord",
    "TurnHook",
    "TurnLog",
    "TurnRecord",
    "TurnsJsonl",
    "percentile",
    "setup_tracing",
    "summarize",
]
