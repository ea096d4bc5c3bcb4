"""The loaded offline model's thread plan on the real llama.cpp context: every evaluation on
the model's one thread, thread counts set through llama.cpp's public API and put back after
each reply. (Whether two threads are faster is a timing question:
``benchmarks/llama_first_clause.py``.)"""

from __future__ import annotations

import os
import threading

import llama_cpp

from voicebot.providers.local import LlamaLLM
from voicebot.providers.local.llama_thread import model_thread


def test_the_model_is_evaluated_on_its_own_thread_and_measured_at_load() -> None:
    loaded = LlamaLLM().loaded()
    where = loaded.evaluate(threading.current_thread)
    assert where is not threading.current_thread()
    assert where.name.startswith("llama")
    assert where is loaded.evaluate(threading.current_thread)  # always the same one
    assert loaded.thread is model_thread()  # the one every model of the process uses
    assert loaded.threads.single_secs > 0  # one token's time, measured at load
    assert loaded.threads.burst_threads == max(1, min(2, os.cpu_count() or 1))


def test_a_reply_runs_on_the_burst_threads_and_ends_on_the_generation_threads() -> None:
    loaded = LlamaLLM().loaded()
    ctx = loaded.llama.ctx

    def one_reply() -> tuple[bool, str, int, int, int]:
        with loaded.threads.reply() as plan:
            # not beside other work or after a slow burst (see llama_cores)
            bursts = plan.bursting
            during = llama_cpp.llama_n_threads(ctx)
            for _ in loaded.llama.create_completion("One, two,", max_tokens=3, stream=True):
                plan.token()
        after = llama_cpp.llama_n_threads(ctx), llama_cpp.llama_n_threads_batch(ctx)
        return bursts, plan.no_burst, during, *after

    bursts, plan_why, during, after, batch = loaded.evaluate(one_reply)
    threads = loaded.threads
    assert during == (threads.burst_threads if bursts else threads.threads)
    # two cores until the first clause unless another task ran or a burst was slow just now
    assert bursts or plan_why in {"busy", "after contention"}
    assert after == threads.threads == 1
    assert batch in (threads.threads, threads.batch_threads)
