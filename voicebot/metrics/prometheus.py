"""Prometheus metrics for served bots: per-turn voice-to-voice and stage histograms, counters.

``Bot(prometheus=Prometheus(port=9464))`` serves ``/metrics`` (text exposition format) on
that port while the bot runs, shared by every session in the process::

    voicebot_voice_to_voice_seconds     histogram  user stopped talking → bot audio (in-bot)
    voicebot_turn_stage_seconds{stage}  histogram  each stage of that time (see STAGES)
    voicebot_turns_total                counter    user turns completed
    voicebot_interruptions_total        counter    user turns whose reply was cut off
    voicebot_unanswered_turns_total     counter    user turns with no bot speech
    voicebot_tool_calls_total{tool}     counter    tool calls made by the LLM
    voicebot_sessions_total             counter    sessions started
    voicebot_sessions_active            gauge      sessions running now

The metrics live in ``prometheus_client``'s default registry, so an application that
already serves that registry gets them with ``Prometheus(port=None)`` (record only).
Needs the ``metrics`` extra: ``pip install "voicebot[metrics]"``.
"""

from __future__ import annotations

import threading
from typing import Any

from pydantic import Field

from voicebot.errors import ConfigError
from voicebot.metrics.records import TurnRecord
from voicebot.options_model import OptionsModel

VOICE_TO_VOICE_BUCKETS = (0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0)
STAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0)


def _client() -> Any:
    try:
        import prometheus_client
    except ImportError as e:
        raise ConfigError(
            'Prometheus metrics need prometheus-client: pip install "voicebot[metrics]"'
        ) from e
    return prometheus_client


class LatencyMetrics:
    """The voicebot collectors in one Prometheus registry; ``observe(turn)`` records a turn."""

    def __init__(self, registry: Any = None) -> None:
        pc = _client()
        self.registry = registry if registry is not None else pc.REGISTRY
        kw: dict[str, Any] = {"registry": self.registry}
        self.voice_to_voice = pc.Histogram(
            "voicebot_voice_to_voice_seconds",
            "Voice-to-voice latency per user turn, measured inside the bot: the user went "
            "quiet to the bot's first audio leaving the pipeline.",
            buckets=VOICE_TO_VOICE_BUCKETS,
            **kw,
        )
        self.stage = pc.Histogram(
            "voicebot_turn_stage_seconds",
            "Seconds of each user turn's voice-to-voice latency spent in each stage.",
            ["stage"],
            buckets=STAGE_BUCKETS,
            **kw,
        )
        self.turns = pc.Counter("voicebot_turns", "User turns completed.", **kw)
        self.interruptions = pc.Counter(
            "voicebot_interruptions", "User turns whose bot reply was interrupted.", **kw
        )
        self.unanswered = pc.Counter(
            "voicebot_unanswered_turns", "User turns completed with no bot speech.", **kw
        )
        self.tool_calls = pc.Counter(
            "voicebot_tool_calls", "Tool calls made by the LLM.", ["tool"], **kw
        )
        self.retrieval = pc.Histogram(
            "voicebot_retrieval_seconds",
            "Knowledge searches (RAG) that succeeded within their budget: their duration.",
            buckets=STAGE_BUCKETS,
            **kw,
        )
        self.retrieval_held = pc.Histogram(
            "voicebot_retrieval_held_seconds",
            "How long each RAG turn was held waiting for its search (at most the budget).",
            buckets=STAGE_BUCKETS,
            **kw,
        )
        self.retrieval_outcomes = pc.Counter(
            "voicebot_retrievals",
            "Knowledge searches per outcome: in_time, late (the reply went ahead without "
            "them) or error.",
            ["outcome"],
            **kw,
        )
        self.sessions = pc.Counter("voicebot_sessions", "Sessions started.", **kw)
        # "livesum": under ``voicebot serve`` (multiprocess), the sum over live workers only.
        self.sessions_active = pc.Gauge(
            "voicebot_sessions_active", "Sessions running.", multiprocess_mode="livesum", **kw
        )

    def observe(self, turn: TurnRecord) -> None:
        """Record one completed turn (greetings are not user turns and are skipped)."""
        if not turn.user_text:
            return
        self.turns.inc()
        if turn.interrupted:
            self.interruptions.inc()
        if turn.voice_to_voice_secs is None:
            self.unanswered.inc()
        else:
            self.voice_to_voice.observe(turn.voice_to_voice_secs)
            for key, secs in turn.stages.items():
                self.stage.labels(stage=key).observe(secs)
        for call in turn.tool_calls:
            self.tool_calls.labels(tool=call.name).inc()
        if (found := turn.retrieval) is not None:
            outcome = "error" if found.error else "in_time" if found.in_time else "late"
            self.retrieval_outcomes.labels(outcome=outcome).inc()
            self.retrieval_held.observe(found.waited_secs)
            if outcome == "in_time" and found.secs is not None:
                self.retrieval.observe(found.secs)

    def session_started(self) -> None:
        self.sessions.inc()
        self.sessions_active.inc()

    def session_ended(self) -> None:
        self.sessions_active.dec()

    def exposition(self) -> bytes:
        """The registry in Prometheus text format, as ``/metrics`` serves it."""
        return bytes(_client().generate_latest(self.registry))


_lock = threading.Lock()
_default: LatencyMetrics | None = None
_servers: dict[tuple[str, int], Any] = {}


def default_metrics() -> LatencyMetrics:
    """The process-wide collectors, in ``prometheus_client``'s default registry."""
    global _default
    with _lock:
        if _default is None:
            _default = LatencyMetrics()
        return _default


class Prometheus(OptionsModel):
    """Serve ``/metrics`` for Prometheus while the bot runs.

    ``port=None`` records into the default registry without serving it (for an application
    that already exposes that registry); ``port=0`` picks a free port (see ``start()``).
    The server binds ``host`` (all interfaces by default, for a scraper on another machine).
    """

    port: int | None = Field(default=9464, ge=0, le=65535)
    host: str = "0.0.0.0"

    def check(self) -> None:
        _client()

    @property
    def metrics(self) -> LatencyMetrics:
        return default_metrics()

    def start(self) -> int | None:
        """Start the endpoint if it is not up yet (one per host and port in a process);
        return the port it listens on."""
        if self.port is None:
            return None
        pc = _client()
        default_metrics()
        with _lock:
            server = _servers.get((self.host, self.port))
            if server is None:
                server, _thread = pc.start_http_server(self.port, addr=self.host)
                _servers[(self.host, self.port)] = server
            return int(server.server_port)

    def stop(self) -> None:
        """Stop this endpoint (sessions keep recording into the registry)."""
        with _lock:
            server = _servers.pop((self.host, self.port or 0), None)
        if server is not None:
            server.shutdown()
            server.server_close()
