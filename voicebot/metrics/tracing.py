"""OpenTelemetry spans for voice bots, through Pipecat's tracing.

``Bot(tracing=True)`` turns on Pipecat's tracing for each session
(``PipelineWorker(enable_tracing=True, conversation_id=session.id)``): one ``conversation``
span per session, a ``turn`` span per turn carrying ``turn.user_bot_latency_seconds``, and
the built-in vendor services' own spans (STT, LLM, TTS). voicebot adds one child span per
stage of each turn's latency (``endpointing_wait``, ``transcription``, ``llm_inference``, …,
see ``voicebot.metrics.stages.STAGES``) with its real start and end, so a trace viewer draws
the same waterfall as ``voicebot report``.

Spans go wherever the OpenTelemetry tracer provider sends them; ``setup_tracing`` sets one
up with an exporter::

    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from voicebot.metrics import setup_tracing

    setup_tracing(OTLPSpanExporter(endpoint="http://localhost:4318/v1/traces"))
    Bot(..., tracing=True).run()

Needs the ``tracing`` extra: ``pip install "voicebot[tracing]"``.
"""

from __future__ import annotations

from typing import Any

from voicebot.errors import ConfigError

NEEDS_EXTRA = 'tracing needs OpenTelemetry: pip install "voicebot[tracing]"'


def tracing_available() -> bool:
    from pipecat.utils.tracing.setup import is_tracing_available

    return bool(is_tracing_available())


def setup_tracing(
    exporter: Any = None, *, service_name: str = "voicebot", console: bool = False
) -> None:
    """Install a global tracer provider that sends spans to ``exporter`` (Pipecat's
    ``setup_tracing``). OpenTelemetry allows one global provider per process: call this
    once, at start-up."""
    if not tracing_available():
        raise ConfigError(NEEDS_EXTRA)
    from pipecat.utils.tracing.setup import setup_tracing as pipecat_setup

    if not pipecat_setup(service_name, exporter=exporter, console_export=console):
        raise ConfigError("OpenTelemetry tracing could not be set up (see the log)")


def add_stage_spans(worker: Any, latency_observer: Any, session_id: str) -> None:
    """Emit one span per latency stage under the current Pipecat ``turn`` span, each time
    ``latency_observer`` (a ``UserBotLatencyObserver``) reports a breakdown."""
    from opentelemetry import trace

    tracer = trace.get_tracer("voicebot.latency")

    async def on_breakdown(_observer: Any, breakdown: Any) -> None:
        trace_observer = worker.turn_trace_observer
        span_context = trace_observer.get_current_turn_context() if trace_observer else None
        if span_context is None or not breakdown.contributions:
            return
        parent = trace.set_span_in_context(trace.NonRecordingSpan(span_context))
        for c in breakdown.contributions:
            start = int(c.start_time * 1e9)
            span = tracer.start_span(
                c.key,
                context=parent,
                start_time=start,
                attributes={
                    "voicebot.stage": c.key,
                    "voicebot.stage.owner": c.owner,
                    "voicebot.stage.seconds": c.duration_secs,
                    "voicebot.session_id": session_id,
                },
            )
            span.end(end_time=start + int(c.duration_secs * 1e9))

    latency_observer.add_event_handler("on_latency_breakdown", on_breakdown)
