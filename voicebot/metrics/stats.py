"""Latency figures over many turns: p50/p95 of voice-to-voice and of each stage.

``summarize(turns)`` works on any list of ``TurnRecord``: a running session's
(``session.latency``), a finished conversation's, or turns read back from a JSONL file.
``percentile`` is the one interpolation behind every figure here and the test budgets.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from voicebot.metrics.records import TurnRecord
from voicebot.metrics.stages import STAGE_KEYS, stage_short

#: Which voice-to-voice figure to use: ``"bot"`` as measured inside the bot, ``"caller"`` as
#: read off the caller's audio (recorded-caller runs only), ``"auto"`` caller when every
#: measured turn has it, else bot.
Measure = Literal["auto", "caller", "bot"]


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0-100), interpolated between neighbours; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * min(max(q, 0.0), 100.0) / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass(frozen=True)
class LatencySummary:
    """Voice-to-voice over a set of user turns, plus per-stage p50/p95.

    ``turns`` counts user turns; ``measured`` those with a figure (an unanswered or
    interrupted-before-speaking turn has none). Seconds are None when nothing was measured.
    """

    turns: int
    measured: int
    measure: Literal["caller", "bot"]
    p50_secs: float | None
    p95_secs: float | None
    max_secs: float | None
    mean_secs: float | None
    last_secs: float | None
    stage_p50_secs: dict[str, float] = field(default_factory=dict)
    stage_p95_secs: dict[str, float] = field(default_factory=dict)

    def __str__(self) -> str:
        if not self.measured:
            return f"voice-to-voice: no measured turns (of {self.turns})"
        return (
            f"voice-to-voice ({self.measure}, {self.measured} turns): p50 {self.p50_secs:.3f}s, "
            f"p95 {self.p95_secs:.3f}s, max {self.max_secs:.3f}s"
        )


def voice_to_voice(turn: TurnRecord, measure: Literal["caller", "bot"]) -> float | None:
    return turn.caller_voice_to_voice_secs if measure == "caller" else turn.voice_to_voice_secs


def choose_measure(turns: list[TurnRecord], measure: Measure) -> Literal["caller", "bot"]:
    if measure != "auto":
        return measure
    measured = [t for t in turns if t.voice_to_voice_secs is not None]
    if measured and all(t.caller_voice_to_voice_secs is not None for t in measured):
        return "caller"
    return "bot"


def summarize(turns: Iterable[TurnRecord], measure: Measure = "bot") -> LatencySummary:
    """p50/p95/max of the user turns' voice-to-voice latency and of each stage."""
    user = [t for t in turns if t.user_text]
    chosen = choose_measure(user, measure)
    values = [v for t in user if (v := voice_to_voice(t, chosen)) is not None]
    timed = [t for t in user if t.voice_to_voice_secs is not None]
    keys = [k for k in STAGE_KEYS if any(k in t.stages for t in timed)]
    keys += sorted({k for t in timed for k in t.stages} - set(keys))
    stage_p50: dict[str, float] = {}
    stage_p95: dict[str, float] = {}
    for key in keys:
        per_turn = [t.stages.get(key, 0.0) for t in timed]
        stage_p50[key] = percentile(per_turn, 50) or 0.0
        stage_p95[key] = percentile(per_turn, 95) or 0.0
    return LatencySummary(
        turns=len(user),
        measured=len(values),
        measure=chosen,
        p50_secs=percentile(values, 50),
        p95_secs=percentile(values, 95),
        max_secs=max(values) if values else None,
        mean_secs=sum(values) / len(values) if values else None,
        last_secs=values[-1] if values else None,
        stage_p50_secs=stage_p50,
        stage_p95_secs=stage_p95,
    )


def stage_columns(turns: Iterable[TurnRecord]) -> list[str]:
    """The stage keys the turns used, in ``STAGES`` order, then any others."""
    seen = {k for t in turns for k in t.stages}
    return [k for k in STAGE_KEYS if k in seen] + sorted(seen - set(STAGE_KEYS))


def turn_table(
    turns: Iterable[TurnRecord],
    measure: Measure = "auto",
    *,
    flag: float | None = None,
    width: int = 32,
) -> str:
    """A fixed-width table: one row per user turn with its voice-to-voice and each stage
    in seconds, then p50 and p95 rows. Rows over ``flag`` seconds are marked ``!``."""
    user = [t for t in turns if t.user_text]
    chosen = choose_measure(user, measure)
    keys = stage_columns(user)
    heads = ["turn", f"v2v({chosen})"]
    if chosen == "caller":
        heads.append("in-bot")
    heads += [stage_short(k) for k in keys]
    rows: list[list[str]] = []
    for n, t in enumerate(user, 1):
        v = voice_to_voice(t, chosen)
        mark = "!" if flag is not None and v is not None and v > flag else " "
        row = [f"{n}{mark}", _fmt(v)]
        if chosen == "caller":
            row.append(_fmt(t.voice_to_voice_secs))
        measured = t.voice_to_voice_secs is not None
        row += [_fmt(t.stages.get(k, 0.0) if measured else None) for k in keys]
        said = t.user_text if len(t.user_text) <= width else t.user_text[: width - 1] + "…"
        row.append(f"{said!r}" + (" [interrupted]" if t.interrupted else ""))
        rows.append(row)
    summary = summarize(user, chosen)
    for name, q in (("p50", 50), ("p95", 95)):
        values = [v for t in user if (v := voice_to_voice(t, chosen)) is not None]
        row = [name, _fmt(percentile(values, q))]
        if chosen == "caller":
            inside = [t.voice_to_voice_secs for t in user if t.voice_to_voice_secs is not None]
            row.append(_fmt(percentile(inside, q)))
        stage_q = summary.stage_p50_secs if q == 50 else summary.stage_p95_secs
        row += [_fmt(stage_q.get(k)) for k in keys]
        row.append("")
        rows.append(row)
    heads.append("user said")
    widths = [max(len(r[i]) for r in [heads, *rows]) for i in range(len(heads) - 1)]
    lines = []
    for r in [heads, *rows]:
        cells = [c.rjust(w) for c, w in zip(r[:-1], widths, strict=True)]
        lines.append("  ".join([*cells, r[-1]]).rstrip())
    return "\n".join(lines)


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"
