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
median of ``--reps``:

- from one thread, and from a new thread each time;
- with no abort check, with the Python callback, and with the native one (``AbortFlag``);
- each again beside a Python thread that keeps the GIL busy (an event loop at its worst).

Expected (written before the first run, from a one-off script): a new thread each time
~30 % slower; the Python callback costs little alone but ~2x beside a busy Python thread;
the native one costs nothing in either case.

    python benchmarks/llama_threading.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import machine  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
PREFIX = 240


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
    parser.add_argument("--reps", type=int, default=7)
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

    def timed(check: str, new_thread: bool) -> float:
        times: list[float] = []
        for _ in range(args.reps):
            if new_thread:
                out: list[float] = []
                worker = threading.Thread(target=lambda out=out: out.append(evaluate(check)))
                worker.start()
                worker.join()
                times.append(out[0])
            else:
                times.append(evaluate(check))
        return statistics.median(times)

    busy = threading.Event()

    def spin() -> None:
        while busy.is_set():
            sum(range(200))  # pure Python: holds the GIL

    rows = []
    for beside in ("idle", "busy Python thread"):
        spinner = None
        if beside != "idle":
            busy.set()
            spinner = threading.Thread(target=spin)
            spinner.start()
        try:
            for check in ("none", "python", "native"):
                for new_thread in (False, True):
                    ms = timed(check, new_thread)
                    row = {
                        "beside": beside,
                        "abort_check": check,
                        "calling_thread": "new each time" if new_thread else "one thread",
                        "p50_ms": round(ms, 1),
                    }
                    rows.append(row)
                    print(
                        f"{beside:20} check={check:7} {row['calling_thread']:14} {ms:7.1f} ms",
                        flush=True,
                    )
        finally:
            busy.clear()
            if spinner is not None:
                spinner.join()
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
