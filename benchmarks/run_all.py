"""Run every benchmark, one process each, and print their tables: ``make bench``.

Each writes its JSON to benchmarks/results/; this also writes results/summary.json with
the headline figures against their goals. About 7-8 minutes on a 2-core VM.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

from benchmarks.common import REPO, RESULTS, machine

BENCHES = ["overhead", "cpu", "capacity", "bargein", "endpointing", "speculation"]


def headline(name: str, r: dict[str, Any]) -> dict[str, Any]:
    if name == "overhead":
        return {
            "ours_overhead_p50_ms": 1000 * r["ours"]["overhead"]["p50"],
            "ours_overhead_p95_ms": 1000 * r["ours"]["overhead"]["p95"],
            "stock_overhead_p95_ms": 1000 * r["stock"]["overhead"]["p95"],
            "ours_minus_stock_p50_ms": 1000 * r["ours_minus_stock"]["p50"],
            "goal": "ours overhead p95 <= 10 ms",
            "met": r["met"],
        }
    if name == "cpu":
        return {"ratio": r["ratio_median"], "goal": "ours/stock <= 1.05", "met": r["met"]}
    if name == "capacity":
        return {
            "ours_sessions_per_core": r["ours"]["sessions_per_core"],
            "stock_sessions_per_core": r["stock"]["sessions_per_core"],
            "goal": "report (p99 frame lateness <= 40 ms)",
        }
    if name == "bargein":
        return {
            "ours_p50_ms": 1000 * r["ours"]["onset_to_silence"]["p50"],
            "ours_p95_ms": 1000 * r["ours"]["onset_to_silence"]["p95"],
            "stock_p95_ms": 1000 * r["stock"]["onset_to_silence"]["p95"],
            "goal": "p95 <= 100 ms",
            "met": r["met"],
        }
    if name == "endpointing":
        return {
            key: {"p50_ms": 1000 * x["vad_stop_to_decided"]["p50"]}
            for key, x in r.items()
            if isinstance(x, dict)
            and "vad_stop_to_decided" in x
            and x["vad_stop_to_decided"]["p50"] is not None
        }
    if name == "speculation":
        rows = r["callers"]["questions"]
        return {
            key: {"x_stock_p50": x["ratio_p50_to_stock"]}
            for key, x in rows.items()
            if key != "stock"
        } | {"goal": f"p50 <= {r['goal_ratio']} x stock"}
    return {}


def main() -> int:
    start = time.monotonic()
    summary: dict[str, Any] = {"machine_at_start": machine()}
    failed = []
    for name in BENCHES:
        print(f"\n=== {name} ===", flush=True)
        t = time.monotonic()
        done = subprocess.run([sys.executable, "-m", f"benchmarks.bench_{name}"], cwd=REPO)
        if done.returncode != 0:
            failed.append(name)
            continue
        result = json.loads((RESULTS / f"{name}.json").read_text())
        summary[name] = {**headline(name, result), "secs": round(time.monotonic() - t, 1)}
    summary["total_secs"] = round(time.monotonic() - start, 1)
    summary["machine_at_end"] = machine()
    (RESULTS / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(
        f"\nall benchmarks: {summary['total_secs']:.0f} s; "
        "summary in benchmarks/results/summary.json"
    )
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
