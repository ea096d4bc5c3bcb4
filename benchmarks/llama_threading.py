"""How the in-process model is called, and what it costs the prompt's evaluation.

Why: in the offline pipeline the prompt's new part (the caller's words and the template)
evaluated at ~10 ms a token, against ~6.5 alone (session 11's note). Two suspects in how
voicebot called llama.cpp (``voicebot/providers/local/llama_thread.py``):

- the calling thread: llama-cpp-python's wheel runs ggml on OpenMP, whose worker team
  belongs to the calling thread; voicebot called from whichever executor thread was free;
- the abort check: a Python ``ggml_abort_callback`` (``abort_when``) that llama.cpp calls at
  every graph node, each call taking the GIL.

Measured, in one process, evaluating ``--tokens`` new tokens after a 240-token cached prefix
(the balanced model, 1 generation thread, 2 for the prompt, as ``LlamaLLM`` loads it),
median of ``--reps`` rounds, each round running every variant once in a shuffled order:

- from one long-lived thread (voicebot's ``LlamaThread``), from four long-lived threads in
  turn (as a default executor's threads were), and from a new thread each time;
- with no abort check, with the Python callback, and with the native one (``AbortFlag``);
- each again beside a Python thread that keeps the GIL busy (an event loop at its worst).

Expected (written before the first run, from a one-off script): a new thread each time
~30 % slower; the Python callback costs little alone but ~2x beside a busy Python thread;
the native one costs nothing in either case. The first version ran each variant in a
block and compared only one thread with a new one each time; a review's randomised
re-run found no difference between the ways of calling (157-171 ms), so this version
interleaves the variants and adds the executor-like one.

    python benchmarks/llama_threading.py
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import machine  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
PREFIX = 240
CHECKS = ("none", "python", "native")
CALLING = ("one thread", "4 threads in turn", "new each time")


def python_abort(llama: Any) -> Callable[[], Any]:
    """The check as voicebot made it before: a Python callback reading an Event."""
    import llama_cpp

    stop = threading.Event()
    callback = llama_cpp.ggml_abort_callback(lambda _data: stop.is_set())

    def install() -> Any:
        llama_cpp.llama_set_abort_callback(llama.ctx, callback, None)
        return callback

    return install


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=20)
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--name", default="llama_threading")
    args = parser.parse_args()

    import llama_cpp
    from llama_cpp import Llama

    from voicebot.providers.local import LlamaLLM
    from voicebot.providers.local.llama_thread import AbortFlag

    path = LlamaLLM().model_file()
    llama = Llama(str(path), n_ctx=2048, n_threads=1, n_threads_batch=2, verbose=False)
    text = "The quick brown fox jumps over the lazy dog. " * 40
    tokens = llama.tokenize(text.encode())[: PREFIX + args.tokens]
    llama.eval(tokens[:PREFIX])

    def evaluate(check: str) -> float:
        llama.n_tokens = PREFIX
        keep: Any = None
        if check == "python":
            keep = python_abort(llama)()
        elif check == "native":
            flag = AbortFlag()
            callback, data = flag.callback()
            llama_cpp.llama_set_abort_callback(llama.ctx, callback, data)
            keep = (flag, callback)
        started = time.perf_counter()
        try:
            llama.eval(tokens[PREFIX:])
        finally:
            llama_cpp.llama_set_abort_callback(llama.ctx, llama_cpp.ggml_abort_callback(), None)
        del keep
        return (time.perf_counter() - started) * 1000

    one = ThreadPoolExecutor(max_workers=1)  # voicebot's LlamaThread
    pool = [ThreadPoolExecutor(max_workers=1) for _ in range(4)]  # executor threads in turn
    turn = itertools.count()

    def call(calling: str, check: str) -> float:
        if calling == "one thread":
            return one.submit(evaluate, check).result()
        if calling == "4 threads in turn":
            return pool[next(turn) % len(pool)].submit(evaluate, check).result()
        out: list[float] = []
        worker = threading.Thread(target=lambda: out.append(evaluate(check)))
        worker.start()
        worker.join()
        return out[0]

    busy = threading.Event()

    def spin() -> None:
        while busy.is_set():
            sum(range(200))  # pure Python: holds the GIL

    variants = [(check, calling) for check in CHECKS for calling in CALLING]
    rows = []
    rng = random.Random(0)
    for beside in ("idle", "busy Python thread"):
        spinner = None
        if beside != "idle":
            busy.set()
            spinner = threading.Thread(target=spin)
            spinner.start()
        times: dict[tuple[str, str], list[float]] = {v: [] for v in variants}
        try:
            for _ in range(args.reps):  # every variant once per round, in a shuffled order
                for variant in rng.sample(variants, len(variants)):
                    times[variant].append(call(variant[1], variant[0]))
        finally:
            busy.clear()
            if spinner is not None:
                spinner.join()
        for (check, calling), ms in times.items():
            row = {
                "beside": beside,
                "abort_check": check,
                "calling_thread": calling,
                "p50_ms": round(statistics.median(ms), 1),
                "all_ms": [round(x, 1) for x in ms],
            }
            rows.append(row)
            print(f"{beside:20} check={check:7} {calling:18} {row['p50_ms']:7.1f} ms", flush=True)
    one.shutdown()
    for executor in pool:
        executor.shutdown()
    llama.close()

    print(f"\n| beside | abort check | calling thread | {args.tokens} tokens, p50 |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['beside']} | {r['abort_check']} | {r['calling_thread']} | {r['p50_ms']} ms |")
    result = {
        "command": " ".join(["python benchmarks/llama_threading.py", *sys.argv[1:]]),
        "machine": machine(),
        "python": platform.python_version(),
        "llama_cpp_python": llama_cpp.__version__,
        "config": {
            "model_file": path.name,
            "n_threads": 1,
            "n_threads_batch": 2,
            "cached_prefix_tokens": PREFIX,
            "new_tokens": args.tokens,
            "reps": args.reps,
            "load_avg_after": list(os.getloadavg()),
        },
        "rows": rows,
    }
    out = RESULTS / f"{args.name}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
