"""A running session's latency, exported as it happens: hooks, JSONL, Prometheus, tracing.

``connect(turn_log, worker, on_turn=..., ...)`` wires the observability options into one
session; ``voicebot.session`` calls it with a ``Bot``'s options when it builds the pipeline.
It takes the options, not the ``Bot``, so that metrics never import the spec (which imports
the session, which imports this).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from voicebot.errors import ConfigError
from voicebot.metrics.prometheus import LatencyMetrics, Prometheus
from voicebot.metrics.records import TurnRecord
from voicebot.metrics.turn_log import TurnHook, TurnLog
from voicebot.redaction import redact_value


class TurnsJsonl:
    """A turn hook that appends each completed turn to ``path`` as one JSON line.

    The lines are those of ``Conversation.to_jsonl()`` and ``voicebot run --turns``, and
    ``voicebot report`` reads them. Many sessions may share one file: each line carries its
    ``session_id``. Caller-side timings (``caller_voice_to_voice_secs``) are only known
    after a recorded-caller run ends, so live lines have them as null.
    """

    _lock = threading.Lock()

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __call__(self, turn: TurnRecord) -> None:
        line = json.dumps(redact_value(turn.to_dict()), default=str) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(line)

    def __repr__(self) -> str:
        return f"TurnsJsonl({str(self.path)!r})"


def connect(
    turn_log: TurnLog,
    worker: Any,
    *,
    on_turn: TurnHook | None = None,
    turns_jsonl: str | Path | None = None,
    prometheus: Prometheus | None = None,
    tracing: bool = False,
) -> None:
    """Watch the worker with the turn log, and hook the ``on_turn``, ``turns_jsonl``,
    ``prometheus`` and ``tracing`` options (those of ``Bot``) into them."""
    if not turn_log.listening:  # a session has given it its feed already
        turn_log.install(worker)
    if on_turn is not None:
        turn_log.on_turn(on_turn)
    if turns_jsonl is not None:
        turn_log.on_turn(TurnsJsonl(turns_jsonl))
    if prometheus is not None:
        _count_session(prometheus.metrics, turn_log)
    if tracing:
        from voicebot.metrics.tracing import NEEDS_EXTRA, add_stage_spans, tracing_available

        if not tracing_available():
            raise ConfigError(f"Bot(tracing=True): {NEEDS_EXTRA}")
        add_stage_spans(worker, turn_log.latency_observer, turn_log.session_id)


def _count_session(metrics: LatencyMetrics, turn_log: TurnLog) -> None:
    started = False

    def start() -> None:
        nonlocal started
        started = True
        metrics.session_started()

    def end() -> None:
        if started:
            metrics.session_ended()

    turn_log.on_start(start)
    turn_log.on_turn(metrics.observe)
    turn_log.on_close(end)
