"""Where the offline LLM's prompt time goes inside the pipeline: every evaluation, timed.

Runs ``benchmarks/offline_latency.py`` (its ``--contenders``, default ``ours``) with
``llama_cpp.Llama.eval`` wrapped: for each evaluation of more than one token (a prompt, not a
generated token) it records the tokens evaluated, the cached prefix reused, wall time, the
calling thread's CPU time, and every thread of the process that used CPU meanwhile (from
/proc, Linux only), so a slow evaluation shows whether it waited for the CPU, for another
thread, or for nothing. Alone, the same evaluation is ``benchmarks/llama_threading.py``.

    python benchmarks/llm_eval_trace.py                   # writes results/llm_eval_trace.json
    python benchmarks/llm_eval_trace.py --limit 4 --gap 4 # a quick one

What it showed (2026-12-03): docs/offline.md, "Why we are still far from 500 ms".
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RESULTS = Path(__file__).resolve().parent / "results"
TICK = os.sysconf("SC_CLK_TCK")


def thread_cpu() -> dict[str, tuple[str, float]]:
    """tid -> (name, CPU seconds) for every thread of this process."""
    out: dict[str, tuple[str, float]] = {}
    names = {str(t.native_id): t.name for t in threading.enumerate()}
    for tid in os.listdir("/proc/self/task"):
        try:
            stat = Path(f"/proc/self/task/{tid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        out[tid] = (names.get(tid, "native"), (int(fields[11]) + int(fields[12])) / TICK)
    return out


def main() -> None:
    from llama_cpp import Llama

    import benchmarks.offline_latency as latency

    evaluations: list[dict[str, Any]] = []
    evaluate = Llama.eval

    def traced(self: Any, tokens: Any) -> None:
        if len(tokens) <= 1:
            return evaluate(self, tokens)
        before, prefix = thread_cpu(), self.n_tokens
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return evaluate(self, tokens)
        finally:
            wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
            after = thread_cpu()
            busy = sorted(
                (
                    (round((after[t][1] - before[t][1]) * 1000), after[t][0], t)
                    for t in after
                    if t in before and after[t][1] > before[t][1]
                ),
                reverse=True,
            )
            evaluations.append(
                {
                    "tokens": len(tokens),
                    "cached_prefix": prefix,
                    "wall_ms": round(wall * 1000, 1),
                    "calling_thread_cpu_ms": round(cpu * 1000, 1),
                    "threads_cpu_ms": [{"ms": ms, "name": n, "tid": t} for ms, n, t in busy],
                    "load_avg_1m": os.getloadavg()[0],
                }
            )
            print(
                f"eval {len(tokens):4d} tokens after {prefix:4d}: {wall * 1000:6.0f} ms wall, "
                f"{cpu * 1000:5.0f} ms CPU on its thread; busy: "
                + ", ".join(f"{n}/{t} {ms} ms" for ms, n, t in busy[:4]),
                flush=True,
            )

    Llama.eval = traced  # type: ignore[method-assign]
    command = " ".join(["python benchmarks/llm_eval_trace.py", *sys.argv[1:]])
    args = sys.argv[1:]
    if not any(a.startswith("--contenders") for a in args):
        args = ["--contenders", "ours", *args]
    if not any(a.startswith("--name") for a in args):
        args = [*args, "--name", "llm_eval_trace_run"]
    sys.argv = ["benchmarks/offline_latency.py", *args]
    asyncio.run(latency.main())
    out = RESULTS / "llm_eval_trace.json"
    out.write_text(
        json.dumps(
            {"command": command, "offline_latency_args": args, "evaluations": evaluations},
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
