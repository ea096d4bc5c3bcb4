"""Offline tool routing with few tools: the threshold that rises below six tools, measured.

Two parts, routing only (all-mpnet-base-v2, no LLM; ~3 minutes):

1. **Subsets of the tuning sets.** Every 1- to 5-tool subset of each set of
   ``offline_tool_routing.py`` (a request for a tool left out needs no tool), plus the full
   sets: right choices and false calls by number of tools, with the six-tool threshold for
   every size (before) and with ``calibrated_threshold`` (now), without and with the sets'
   examples. ``FEW_TOOLS`` was chosen on these, so this part is a tuning result.
2. **The cascade benchmark's dental clinic** (``cascade_requests.py``: 3 tools, 44 requests,
   37 needing no tool; written before any of this, never tuned on), without and with
   examples written blind by a helper that saw only the three tools
   (``cascade_tool_examples.json``).

    .venv/bin/python benchmarks/few_tools_routing.py   # table; results/few_tools_routing.json
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import itertools
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.cascade_requests import REQUESTS, TOOLS
from benchmarks.offline_tool_routing import EXAMPLES, SETS, examples_for
from voicebot.providers.local.tool_embeddings import group_vectors, margin_scores, shared_embedder
from voicebot.providers.local.tool_router import (
    CALIBRATION,
    CALIBRATION_WITH_EXAMPLES,
    EXAMPLE_WEIGHT,
    EXAMPLES_TOP,
    FEW_TOOLS,
    ToolRouter,
    ToolSpec,
    calibrated_threshold,
    tool_texts,
)

HERE = Path(__file__).resolve().parent
CASCADE_EXAMPLES = HERE / "cascade_tool_examples.json"
MPNET = "all-mpnet-base-v2"


def similarities(embedder: Any, specs: list[ToolSpec], requests: list[str]) -> tuple[Any, Any]:
    """Per request and tool: the description's best cosine, and the mean of the nearest
    examples (as ``ToolRouter.scores`` mixes them)."""
    queries = embedder.embed(requests)
    desc = [group_vectors(embedder, [tool_texts(t)]) for t in specs]
    exs = [group_vectors(embedder, [t.examples]) for t in specs]
    d = np.array([[float(np.max(v @ q)) for v in desc] for q in queries])
    e = np.array([[float(np.sort(v @ q)[-EXAMPLES_TOP:].mean()) for v in exs] for q in queries])
    return d, e


def subsets_table(embedder: Any) -> dict[str, Any]:
    examples = json.loads(EXAMPLES.read_text())
    out: dict[str, Any] = {}
    counts: dict[tuple[str, str, int], list[int]] = {}
    for tools, cases, _ in SETS.values():
        bare = [ToolSpec.from_function_schema(t.to_function_schema()) for t in tools]
        specs = examples_for(bare, examples)
        assert specs is not None
        d, e = similarities(embedder, specs, [c[0] for c in cases])
        names = [s.name for s in specs]
        want = [None if w is None else names.index(w) for _, w, _ in cases]
        n = len(specs)
        for k in range(1, n + 1):
            for sub in itertools.combinations(range(n), k):
                cols = list(sub)
                for kind in ("description", "examples"):
                    with_examples = kind == "examples"
                    sims = (
                        (1 - EXAMPLE_WEIGHT) * d[:, cols] + EXAMPLE_WEIGHT * e[:, cols]
                        if with_examples
                        else d[:, cols]
                    )
                    table = CALIBRATION_WITH_EXAMPLES if with_examples else CALIBRATION
                    base, weight = table[MPNET]
                    now = calibrated_threshold(MPNET, k, examples=with_examples)
                    size = min(k, 6)
                    for label, threshold in (("before", base), ("now", now)):
                        c = counts.setdefault((kind, label, size), [0, 0, 0])
                        for i, wi in enumerate(want):
                            m = margin_scores(sims[i], weight)
                            b = int(np.argmax(m))
                            got = cols[b] if m[b] >= threshold else None
                            expected = wi if wi in cols else None
                            c[0] += got == expected
                            c[1] += 1
                            c[2] += got is not None and expected is None
    for (kind, label, size), (right, total, false) in sorted(counts.items()):
        out.setdefault(kind, {}).setdefault(label, {})[str(size)] = {
            "right_pct": round(100 * right / total, 1),
            "false_call_pct": round(100 * false / total, 1),
            "routed": total,
        }
    return out


def cascade_table() -> dict[str, Any]:
    specs = [ToolSpec(t["name"], t["description"], {"type": "object", **_schema(t)}) for t in TOOLS]
    examples = json.loads(CASCADE_EXAMPLES.read_text())
    with_examples = [dataclasses.replace(s, examples=tuple(examples[s.name])) for s in specs]
    routers = {
        "description, before": ToolRouter(specs, threshold=CALIBRATION[MPNET][0]),
        "description, now": ToolRouter(specs),
        "examples, before": ToolRouter(
            with_examples, threshold=CALIBRATION_WITH_EXAMPLES[MPNET][0]
        ),
        "examples, now": ToolRouter(with_examples),
    }
    out: dict[str, Any] = {}
    for label, router in routers.items():
        row: dict[str, Any] = {"right": 0, "false_calls": 0, "missed": 0, "wrong": 0, "false": []}
        for r in REQUESTS:
            spec = router.route(r.text)
            got = spec.name if spec else None
            if r.tool is None:
                if got is None or got == r.or_tool:
                    row["right"] += 1
                else:
                    row["false_calls"] += 1
                    row["false"].append([r.text, got])
            elif got == r.tool:
                row["right"] += 1
            elif got is None:
                row["missed"] += 1
            else:
                row["wrong"] += 1
        row["threshold"] = router.threshold
        out[label] = row
    return out


def _schema(t: dict[str, Any]) -> dict[str, Any]:
    return {"properties": t["properties"], "required": t["required"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "results" / "few_tools_routing.json")
    opts = parser.parse_args()
    router = ToolRouter([])
    if router.embedder_name != MPNET:
        sys.exit("all-mpnet-base-v2 is not installed: run `make` (it installs its packages)")
    load_before, started = os.getloadavg(), time.time()
    subsets = subsets_table(shared_embedder())
    cascade = cascade_table()
    print("1. subsets of the tuning sets (tuned on): right % (false calls %) by number of tools")
    for kind, rows in subsets.items():
        for label, by_size in rows.items():
            cells = "  ".join(
                f"{k}: {v['right_pct']:5.1f} ({v['false_call_pct']:4.1f})"
                for k, v in by_size.items()
            )
            print(f"  {kind:12} {label:7} {cells}")
    print("2. cascade dental clinic (3 tools, 44 requests, 37 need none; not tuned on)")
    for label, row in cascade.items():
        print(
            f"  {label:20} threshold {row['threshold']:.2f}: right {row['right']}/44, "
            f"false calls {row['false_calls']}/37, missed {row['missed']}, wrong {row['wrong']}"
        )
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    opts.out.write_text(
        json.dumps(
            {
                "config": {
                    "embedder": MPNET,
                    "calibration": CALIBRATION[MPNET],
                    "calibration_with_examples": CALIBRATION_WITH_EXAMPLES[MPNET],
                    "few_tools": FEW_TOOLS[MPNET],
                    "example_weight": EXAMPLE_WEIGHT,
                    "examples_top": EXAMPLES_TOP,
                    "examples_sha256": hashlib.sha256(EXAMPLES.read_bytes()).hexdigest(),
                    "cascade_examples_sha256": hashlib.sha256(
                        CASCADE_EXAMPLES.read_bytes()
                    ).hexdigest(),
                    "loadavg_before": load_before,
                    "loadavg_after": os.getloadavg(),
                    "seconds": round(time.time() - started, 1),
                },
                "subsets": subsets,
                "cascade": cascade,
            },
            indent=1,
        )
    )
    print(f"wrote {opts.out}")


if __name__ == "__main__":
    main()
