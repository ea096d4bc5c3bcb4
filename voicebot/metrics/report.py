"""The latency picture: each turn's stages as bars on one timeline, as HTML and PNG.

    voicebot report turns.jsonl            # writes turns.html and turns.png
    voicebot report turns.jsonl -o out/t   # writes out/t.html and out/t.png

Every row is one user turn. Time 0 is the moment the user went quiet; the bars are the
stages in the order they ran (``voicebot.metrics.STAGES``), so the row ends where the bot's
first audio left the pipeline: the turn's voice-to-voice latency. Grey behind the bars is
time no stage accounts for (``pipeline``). A hatched stub before 0 is the end of the user's
speech, and one after the bars the start of the bot's.

The HTML page is self-contained (inline SVG and CSS, no scripts, fonts or links), so it can
be mailed or attached to a CI run. The PNG needs matplotlib: ``pip install "voicebot[report]"``.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from voicebot.errors import ConfigError, OutputPathError
from voicebot.metrics.records import TurnRecord
from voicebot.metrics.report_input import load_turns
from voicebot.metrics.stages import STAGES, stage_label
from voicebot.metrics.stats import stage_columns, summarize

COLORS: dict[str, str] = {
    "endpointing_wait": "#8d99ae",
    "transcription": "#4e79a7",
    "turn_detection": "#f28e2b",
    "llm_inference": "#e15759",
    "llm_tool_call": "#b07aa1",
    "function_handler": "#9c755f",
    "sentence_aggregation": "#edc948",
    "speech_synthesis": "#59a14f",
    "output_transport": "#76b7b2",
    "pipeline": "#dddddd",
}
OTHER_COLOR = "#bab0ac"
USER_COLOR = "#c9d6ea"
BOT_COLOR = "#cfe8c9"
#: Seconds of the user's and the bot's speech drawn either side of the turn.
CONTEXT_SECS = 0.4
MAX_ROWS = 500


def color(key: str) -> str:
    return COLORS.get(key, OTHER_COLOR)


@dataclass
class Row:
    """One user turn as drawn."""

    label: str
    text: str
    turn: TurnRecord

    @property
    def total(self) -> float | None:
        return self.turn.voice_to_voice_secs


def rows_of(turns: Iterable[TurnRecord]) -> list[Row]:
    user = [t for t in turns if t.user_text]
    sessions = list(dict.fromkeys(t.session_id for t in user))
    rows = []
    n_in_session: dict[str, int] = {}
    for t in user[-MAX_ROWS:]:
        n_in_session[t.session_id] = n_in_session.get(t.session_id, 0) + 1
        label = f"turn {n_in_session[t.session_id]}"
        if len(sessions) > 1:
            label = f"{t.session_id[:6]} {label}"
        rows.append(Row(label, t.user_text, t))
    return rows


def _bars(row: Row) -> list[tuple[str, float, float]]:
    """(stage key, start, seconds) for the drawn stages, pipeline excluded (background)."""
    t = row.turn
    if t.spans:
        return [(s.key, s.start_secs, s.secs) for s in t.spans if s.key != "pipeline"]
    # Records without spans (older files): stack the stages in order.
    bars, at = [], 0.0
    for key in stage_columns([t]):
        if key != "pipeline":
            bars.append((key, at, t.stages[key]))
            at += t.stages[key]
    return bars


def _speech_stubs(row: Row) -> tuple[float | None, float | None]:
    """Seconds of user speech before 0 and of bot speech after the bars to draw."""
    t = row.turn
    user = bot = None
    if t.user_started_at is not None and t.user_stopped_at is not None:
        user = min(CONTEXT_SECS, max(0.0, t.user_stopped_at - t.user_started_at))
    if t.bot_started_at is not None and t.bot_stopped_at is not None:
        bot = min(CONTEXT_SECS, max(0.0, t.bot_stopped_at - t.bot_started_at))
    return user, bot


# ---- HTML -------------------------------------------------------------------------------

_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; margin: 0 0 4px; }
p.sub { color: #555; margin: 0 0 16px; }
svg text { font: 12px system-ui, sans-serif; fill: #222; }
svg text.dim { fill: #666; }
svg .grid { stroke: #e4e4e4; }
svg .axis { stroke: #999; }
table { border-collapse: collapse; margin-top: 16px; }
td, th { padding: 2px 8px; text-align: right; border-bottom: 1px solid #eee; white-space: nowrap; }
td.l { white-space: normal; }
th { font-weight: 600; } td.l, th.l { text-align: left; }
.key { display: inline-block; width: 12px; height: 12px; vertical-align: -2px; margin-right: 4px; }
.legend span.item { margin-right: 14px; white-space: nowrap; }
"""


def render_html(turns: list[TurnRecord], title: str = "voicebot latency") -> str:
    """A self-contained page: summary, legend, the timeline as inline SVG, and a table."""
    rows = rows_of(turns)
    summary = summarize(turns, "bot")
    caller = summarize(turns, "caller")
    keys = stage_columns([r.turn for r in rows])
    longest = max([r.total or 0.0 for r in rows] + [0.5])
    span = longest + CONTEXT_SECS
    label_w = 7 * max([len(r.label) for r in rows] + [6]) + 16
    left, chart_w, row_h, top = label_w + 200, 760, 26, 30
    height = top + row_h * max(len(rows), 1) + 30
    scale = chart_w / (span + CONTEXT_SECS + 0.3)  # room for the figure after each row

    def x(secs: float) -> float:
        return left + (secs + CONTEXT_SECS) * scale

    svg: list[str] = [
        f'<svg width="{left + chart_w + 20}" height="{height}" role="img" '
        f'aria-label="per-turn latency timeline">'
    ]
    step = _tick_step(span)
    tick = 0.0
    while tick <= span + 1e-9:
        svg.append(
            f'<line class="grid" x1="{x(tick):.1f}" y1="{top - 6}" x2="{x(tick):.1f}" '
            f'y2="{height - 24}"/><text class="dim" x="{x(tick):.1f}" y="{height - 8}" '
            f'text-anchor="middle">{tick:.2f}s</text>'
        )
        tick += step
    svg.append(
        f'<line class="axis" x1="{x(0):.1f}" y1="{top - 10}" x2="{x(0):.1f}" y2="{height - 24}"/>'
        f'<text class="dim" x="{x(0) + 4:.1f}" y="{top - 14}">user went quiet</text>'
    )
    for i, row in enumerate(rows):
        y = top + i * row_h
        t = row.turn
        said = row.text if len(row.text) <= 28 else row.text[:27] + "…"
        svg.append(
            f'<g class="turn" data-turn="{i + 1}" data-session="{html.escape(t.session_id)}">'
        )
        svg.append(
            f"<title>{html.escape(row.label)}: {html.escape(row.text)}"
            f"{' (interrupted)' if t.interrupted else ''}</title>"
        )
        svg.append(
            f'<text x="8" y="{y + 16}">{html.escape(row.label)}</text>'
            f'<text class="dim" x="{label_w}" y="{y + 16}">{html.escape(said)}</text>'
        )
        total = row.total
        if total is None:
            why = "interrupted before the bot spoke" if t.interrupted else "no reply measured"
            svg.append(f'<text class="dim" x="{x(0) + 6:.1f}" y="{y + 16}">{why}</text>')
            svg.append("</g>")
            continue
        user_stub, bot_stub = _speech_stubs(row)
        if user_stub:
            svg.append(
                _rect(x(-user_stub), y + 8, user_stub * scale, 8, USER_COLOR, "user speaking")
            )
        svg.append(_rect(x(0), y + 4, total * scale, 16, COLORS["pipeline"], "pipeline", "bg"))
        for key, start, secs in _bars(row):
            tip = f"{stage_label(key)} ({key}): {secs * 1000:.0f} ms at +{start * 1000:.0f} ms"
            svg.append(_rect(x(start), y + 4, secs * scale, 16, color(key), tip, "bar"))
        if bot_stub:
            svg.append(_rect(x(total), y + 8, bot_stub * scale, 8, BOT_COLOR, "bot speaking"))
        caller_v = t.caller_voice_to_voice_secs
        note = f"{total:.3f}s" + (f" (caller {caller_v:.3f}s)" if caller_v is not None else "")
        svg.append(
            f'<text x="{x(total) + (bot_stub or 0) * scale + 6:.1f}" y="{y + 16}">{note}</text>'
        )
        svg.append("</g>")
    svg.append("</svg>")

    legend = ['<p class="legend">']
    for key in keys if "pipeline" in keys else [*keys, "pipeline"]:
        legend.append(
            f'<span class="item"><span class="key" style="background:{color(key)}"></span>'
            f"{html.escape(stage_label(key))}</span>"
        )
    legend.append(
        f'<span class="item"><span class="key" style="background:{USER_COLOR}"></span>'
        f'user speaking</span><span class="item"><span class="key" '
        f'style="background:{BOT_COLOR}"></span>bot speaking</span></p>'
    )

    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v * 1000:.0f} ms"

    table = [
        "<table><tr><th class='l'>stage</th><th>p50</th><th>p95</th>"
        "<th class='l'>what it is</th></tr>"
    ]
    meanings = {s.key: s.meaning for s in STAGES}
    for key in keys:
        table.append(
            f"<tr><td class='l'><span class='key' style='background:{color(key)}'></span>"
            f"{html.escape(stage_label(key))}</td><td>{fmt(summary.stage_p50_secs.get(key))}</td>"
            f"<td>{fmt(summary.stage_p95_secs.get(key))}</td>"
            f"<td class='l'>{html.escape(meanings.get(key, ''))}</td></tr>"
        )
    table.append(
        f"<tr><th class='l'>voice-to-voice (in bot)</th><th>{fmt(summary.p50_secs)}</th>"
        f"<th>{fmt(summary.p95_secs)}</th><td></td></tr>"
    )
    if caller.measure == "caller" and caller.measured:
        table.append(
            f"<tr><th class='l'>voice-to-voice (caller's audio)</th>"
            f"<th>{fmt(caller.p50_secs)}</th><th>{fmt(caller.p95_secs)}</th><td></td></tr>"
        )
    table.append("</table>")

    sub = (
        f"{summary.turns} user turns, {summary.measured} measured; voice-to-voice p50 "
        f"{fmt(summary.p50_secs)}, p95 {fmt(summary.p95_secs)}, max {fmt(summary.max_secs)}. "
        "Time 0 is the moment the user went quiet; each row ends at the bot's first audio."
    )
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
            f"<h1>{html.escape(title)}</h1><p class='sub'>{html.escape(sub)}</p>",
            "".join(legend),
            "".join(svg),
            "".join(table),
            "</body></html>",
        ]
    )


def _rect(x: float, y: float, w: float, h: float, fill: str, tip: str, cls: str = "") -> str:
    klass = f' class="{cls}"' if cls else ""
    return (
        f'<rect{klass} x="{x:.1f}" y="{y}" width="{max(w, 0.5):.1f}" height="{h}" '
        f'fill="{fill}"><title>{html.escape(tip)}</title></rect>'
    )


def _tick_step(span: float) -> float:
    """At most about 10 ticks, however long the span (a turn of hours must not draw
    hundreds of thousands of grid lines)."""
    for step in (0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 5.0):
        if span / step <= 10:
            return step
    return 10.0 ** math.ceil(math.log10(span / 10))


# ---- PNG --------------------------------------------------------------------------------


def render_png(turns: list[TurnRecord], path: str | Path, title: str = "voicebot latency") -> None:
    """The same timeline as a PNG (matplotlib, the ``report`` extra)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.patches import Patch
    except ImportError as e:
        raise ConfigError('a PNG report needs matplotlib: pip install "voicebot[report]"') from e

    rows = rows_of(turns)
    keys = stage_columns([r.turn for r in rows])
    longest = max([r.total or 0.0 for r in rows] + [0.5])
    fig_h = min(2.6 + 0.35 * len(rows), 60.0)
    fig, ax = plt.subplots(figsize=(11, fig_h), dpi=100)
    try:
        for i, row in enumerate(rows):
            total = row.total
            if total is None:
                why = "interrupted before the bot spoke" if row.turn.interrupted else "no reply"
                ax.text(0.01, i, why, va="center", fontsize=8, color="#666")
                continue
            user_stub, bot_stub = _speech_stubs(row)
            if user_stub:
                ax.barh(
                    i,
                    user_stub,
                    left=-user_stub,
                    height=0.3,
                    color=USER_COLOR,
                    hatch="//",
                    edgecolor="white",
                    linewidth=0,
                )
            ax.barh(i, total, left=0, height=0.6, color=COLORS["pipeline"])
            for key, start, secs in _bars(row):
                ax.barh(i, secs, left=start, height=0.6, color=color(key))
            if bot_stub:
                ax.barh(
                    i,
                    bot_stub,
                    left=total,
                    height=0.3,
                    color=BOT_COLOR,
                    hatch="\\\\",
                    edgecolor="white",
                    linewidth=0,
                )
            ax.text(total + (bot_stub or 0) + 0.01, i, f"{total:.3f}s", va="center", fontsize=8)
        labels = [f"{r.label}: {r.text if len(r.text) <= 24 else r.text[:23] + '…'}" for r in rows]
        ax.set_yticks(range(len(rows)), labels=labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlim(-CONTEXT_SECS, longest + CONTEXT_SECS + 0.15)
        ax.axvline(0, color="#999", linewidth=0.8)
        ax.set_xlabel("seconds since the user went quiet")
        summary = summarize(turns, "bot")
        p50 = f"{summary.p50_secs:.3f}s" if summary.p50_secs is not None else "-"
        p95 = f"{summary.p95_secs:.3f}s" if summary.p95_secs is not None else "-"
        ax.set_title(f"{title}: voice-to-voice p50 {p50}, p95 {p95}", fontsize=10)
        handles = [Patch(color=color(k), label=stage_label(k)) for k in keys]
        if "pipeline" not in keys:
            handles.append(Patch(color=COLORS["pipeline"], label="pipeline"))
        handles += [
            Patch(color=USER_COLOR, label="user speaking"),
            Patch(color=BOT_COLOR, label="bot speaking"),
        ]
        ax.legend(
            handles=handles,
            fontsize=7,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.12 if len(rows) > 6 else -0.2),
            ncols=min(len(handles), 6),
            frameon=False,
        )
        ax.grid(axis="x", color="#eee")
        fig.tight_layout()
        fig.savefig(str(path), format="png")
    finally:
        plt.close(fig)


# ---- the command ------------------------------------------------------------------------


def write_report(
    turns_path: str | Path, out: str | Path | None = None, *, png: bool = True
) -> list[Path]:
    """Write ``OUT.html`` (and ``OUT.png``) for a turns JSONL file; return the paths.

    ``out`` defaults to the input path without its suffix; a ``.html``/``.png`` suffix on it
    is dropped."""
    turns = load_turns(turns_path)
    if not turns:  # nothing to draw: an empty picture would pass for a report
        raise ConfigError(f"{turns_path}: no turn records (an empty file)")
    stem = Path(out) if out is not None else Path(turns_path).with_suffix("")
    if stem.suffix in (".html", ".png"):
        stem = stem.with_suffix("")
    title = f"voicebot latency: {Path(turns_path).name}"
    html_path = stem.with_name(stem.name + ".html")
    try:
        stem.parent.mkdir(parents=True, exist_ok=True)
        html_path.write_text(render_html(turns, title), encoding="utf-8")
    except OSError as e:
        raise OutputPathError(f"cannot write {html_path}: {e.strerror or e}") from e
    written = [html_path]
    if png:
        png_path = stem.with_name(stem.name + ".png")
        try:
            render_png(turns, png_path, title)
        except ConfigError as e:
            raise ConfigError(f"wrote {html_path}, but {e}") from e
        written.append(png_path)
    return written
