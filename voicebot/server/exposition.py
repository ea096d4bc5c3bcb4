"""``/metrics`` of ``voicebot serve``: the supervisor's counts and every worker's turn metrics.

The workers record their turns (``voicebot.metrics.prometheus``) into ``prometheus_client``'s
multiprocess files in the directory the supervisor gave them (``PROMETHEUS_MULTIPROC_DIR``);
one scrape merges them with the supervisor's own counts, read from the pool at that moment.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from voicebot.server.supervisor import Supervisor


def exposition(supervisor: Supervisor) -> bytes:
    """The Prometheus text for one scrape."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(supervisor.metrics_dir))
    registry.register(ServeCollector(supervisor))
    return bytes(generate_latest(registry))


class ServeCollector:
    """The supervisor's own counts, read from the pool when Prometheus scrapes."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor

    def collect(self) -> Iterable[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        sup, pool = self.supervisor, self.supervisor.pool
        stats = pool.stats
        yield GaugeMetricFamily(
            "voicebot_calls_active", "Calls live or being answered.", value=pool.active
        )
        yield GaugeMetricFamily(
            "voicebot_calls_capacity", "Calls this host takes at once.", value=pool.capacity
        )
        yield GaugeMetricFamily(
            "voicebot_workers_ready",
            "Worker processes with models loaded.",
            value=len(pool.ready_workers()),
        )
        yield GaugeMetricFamily(
            "voicebot_draining", "1 while the server drains.", value=int(sup.draining)
        )
        yield CounterMetricFamily(
            "voicebot_call_starts", "Calls placed on a worker.", value=stats.call_starts
        )
        yield CounterMetricFamily("voicebot_call_ends", "Calls that ended.", value=stats.call_ends)
        yield CounterMetricFamily(
            "voicebot_call_failures",
            "Calls lost with a worker that died or was killed.",
            value=stats.call_failures,
        )
        refused = CounterMetricFamily(
            "voicebot_calls_refused",
            "New calls refused, by reason (full, rate, draining).",
            labels=["reason"],
        )
        for reason in ("full", "rate", "draining"):
            refused.add_metric([reason], sup.refused[reason])
        yield refused
        restarts = CounterMetricFamily(
            "voicebot_worker_restarts",
            "Workers replaced, by reason (died, hung, ...).",
            labels=["reason"],
        )
        for reason, count in sorted(stats.restarts.items()):
            restarts.add_metric([reason], count)
        yield restarts
