"""Per-turn records and latency: what each turn took, live and afterwards.

    TurnRecord, TurnLog, STAGES   per-turn transcript, tools, stage timings   turns.py
    summarize, LatencySummary     p50/p95 of voice-to-voice and each stage    stats.py
    TurnsJsonl                    a hook writing one JSON line per turn       live.py
    Prometheus, LatencyMetrics    /metrics for served bots                    prometheus.py
    setup_tracing                 OpenTelemetry spans via Pipecat             tracing.py
    voicebot.metrics.report       the timeline picture (PNG and HTML)         report.py

See docs/latency.md.
"""

from voicebot.metrics.live import TurnsJsonl
from voicebot.metrics.prometheus import LatencyMetrics, Prometheus
from voicebot.metrics.stats import LatencySummary, summarize
from voicebot.metrics.tracing import setup_tracing
from voicebot.metrics.turns import (
    STAGES,
    Stage,
    StageSpan,
    ToolCallRecord,
    TurnHook,
    TurnLog,
    TurnRecord,
    percentile,
)

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
