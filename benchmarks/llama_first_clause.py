"""How fast the offline model writes a reply's first clause, by how many threads write it.

What is measured, on the "balanced" model (Qwen2.5-Coder-0.5B, Q8_0) loaded as the bot
loads it (``LlamaLLM().loaded()``), every evaluation on the model's own thread:

1. **Token times** (median gap between streamed pieces, 40 tokens of one prompt): one
   thread; two; two while Piper synthesizes on another thread (as after the first clause);
   and, last, two after a *second* thread has evaluated the model once (llama.cpp's OpenMP
   workers belong to the evaluating thread; a second team makes the process hold more
   OpenMP threads than cores and libgomp stops spinning between steps).
2. **Time to the first clause** (the first piece ``ClauseTextAggregator`` would cut, or the
   whole reply when it is one piece; from the request, so the prompt counts) on 12 requests
   written for this benchmark, each asked of both contenders in turn (ABAB, the order
   flipped each request): ``one thread`` (``first_clause_threads=1``, the bot before this
   change) and ``two until the first clause`` (the bot's plan, ``llama_cores``).
   With ``--burner`` a process spinning on one core runs beside step 2. Each reply says
   how its two-thread start went: "whole reply" (one piece), "first clause", "contended"
   (a slow token ended it), "busy" (another task was running as it began: one thread),
   "after contention" (one of the three replies after a contended one: one thread).
3. **Tool arguments**: the time to write a tool call's arguments under its JSON grammar
   (``extract_arguments``, as the bot does after routing) for 6 requests to two tools,
   both contenders in turn, and whether the arguments came out the same.

Expected (written before the first run, 2026-12-04): token 60 / 37 ms (one / two threads),
two beside Piper ~70 ms with spikes, two after a second thread ~57 ms; first clause p50
~0.95 -> ~0.65 s idle. With ``--burner``: the plan no worse than one thread (it drops to
one on the first slow token and for three replies, and evaluates the prompt on one).
Added later the same day, before its first run: tool arguments ~0.6-0.9 s -> ~0.4-0.6 s,
the same arguments in at least 5 of 6 (greedy decoding on two threads may differ in a
last digit of a logit).

    python benchmarks/llama_first_clause.py               # idle machine, ~2 minutes
    python benchmarks/llama_first_clause.py --burner --name llama_first_clause_burner

Results: ``benchmarks/results/<name>.json`` with the configuration, load averages and every
request's figures.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REQUESTS = [
    "What time do you open on Saturday?",
    "Can you tell me something about the history of Paris?",
    "I'd like to know how to reset my password.",
    "Which is bigger, a whale or an elephant?",
    "Tell me a fun fact about cats.",
    "How do I get to the train station from here?",
    "My order hasn't arrived yet, what should I do?",
    "Is it going to rain tomorrow, do you think?",
    "Could you explain what a mortgage is?",
    "What's a good way to learn to cook?",
    "I need to change my appointment to next week.",
    "Why is the sky blue?",
]
#: Tool requests for the arguments table: (tool, request).
TOOL_REQUESTS = [
    ("book", "Could I book a cleaning for Tuesday the ninth at half past two? It's Maria Lopez."),
    ("book", "I'd like an appointment next Friday at 10 in the morning, name's Tom Baker."),
    ("book", "Put me down for Monday at four pm please, Sam Reid."),
    ("order", "Where's my parcel? The order number is 48213."),
    ("order", "Can you check on order A7731 for me?"),
    ("order", "I ordered something last week, number 99-1042, has it shipped?"),
]
TOKEN_PROMPT = "What can you tell me about the weather in spring in London and in Paris?"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def messages(system: str, text: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": system}, {"role": "user", "content": text}]


def token_ms(loaded: Any, system: str, threads: int, piper: Any = None) -> dict[str, float]:
    """Median and max gap between pieces of one greedy 40-token reply on ``threads``."""
    from voicebot.providers.local.llama_cores import set_threads

    stop = threading.Event()
    beside = None
    if piper is not None:

        def synthesize() -> None:
            while not stop.is_set():
                for _ in piper.synthesize(
                    "A long sentence the voice reads while the model writes."
                ):
                    pass

        beside = threading.Thread(target=synthesize, daemon=True)
        beside.start()

    def run() -> list[float]:
        set_threads(loaded.llama, threads, loaded.threads.batch_threads)
        stamps = []
        for chunk in loaded.llama.create_chat_completion(
            messages(system, TOKEN_PROMPT), stream=True, max_tokens=40, temperature=0.0
        ):
            if chunk["choices"][0]["delta"].get("content"):
                stamps.append(time.perf_counter())
        set_threads(loaded.llama, loaded.threads.threads, loaded.threads.batch_threads)
        return [b - a for a, b in itertools.pairwise(stamps)]

    try:
        gaps = loaded.evaluate(run)
    finally:
        stop.set()
        if beside is not None:
            beside.join()
    return {
        "p50_ms": round(statistics.median(gaps) * 1000, 1),
        "max_ms": round(max(gaps) * 1000, 1),
    }


def first_clause(loaded: Any, system: str, text: str, burst_threads: int) -> dict[str, Any]:
    """Seconds from the request to the first clause, under the bot's plan with
    ``burst_threads`` (1: the model writes on one thread throughout)."""
    from voicebot.text.clauses import first_piece_written

    plan_threads = loaded.threads
    plan_threads.burst_threads = burst_threads

    def run() -> dict[str, Any]:
        start = time.perf_counter()
        written, at = "", None
        with plan_threads.reply() as plan:
            for chunk in loaded.llama.create_chat_completion(
                messages(system, text), stream=True, max_tokens=60, temperature=0.0
            ):
                delta = chunk["choices"][0]["delta"]
                if "content" not in delta:
                    continue
                plan.token()
                plan.said(delta["content"])
                written += delta["content"]
                if at is None and first_piece_written(written):
                    at = time.perf_counter() - start
            end = time.perf_counter() - start
        return {
            "secs": round(at if at is not None else end, 3),
            "burst": plan.no_burst or plan.burst_end or "whole reply",
            "reply": written,
        }

    return loaded.evaluate(run)


def tool_specs() -> dict[str, Any]:
    from voicebot.providers.local.tool_router import ToolSpec

    return {
        "book": ToolSpec(
            name="book_appointment",
            description="Book an appointment at the clinic.",
            parameters={
                "type": "object",
                "properties": {
                    "day": {"type": "string", "description": "the day asked for"},
                    "time": {"type": "string", "description": "the time asked for"},
                    "name": {"type": "string", "description": "the patient's name"},
                },
                "required": ["day", "time", "name"],
            },
        ),
        "order": ToolSpec(
            name="order_status",
            description="Look up where a customer's order is.",
            parameters={
                "type": "object",
                "properties": {"order_number": {"type": "string"}},
                "required": ["order_number"],
            },
        ),
    }


def arguments_secs(loaded: Any, tool: Any, text: str, burst_threads: int) -> dict[str, Any]:
    """Seconds to write one tool call's arguments, as the bot does (``extract_arguments``
    under the model's thread plan, with ``burst_threads``)."""
    from voicebot.providers.local.tool_router import extract_arguments

    plan_threads = loaded.threads
    plan_threads.burst_threads = burst_threads

    def run() -> dict[str, Any]:
        start = time.perf_counter()
        with plan_threads.reply() as plan:
            arguments = extract_arguments(loaded.llama, tool, text)
        return {
            "secs": round(time.perf_counter() - start, 3),
            "burst": plan.no_burst or ("two threads" if burst_threads > 1 else "one"),
            "arguments": arguments,
        }

    return loaded.evaluate(run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burner", action="store_true", help="a process spinning on one core")
    parser.add_argument("--name", default="llama_first_clause")
    opts = parser.parse_args()

    from voicebot.bot import DEFAULT_SYSTEM_PROMPT
    from voicebot.providers.local import LlamaLLM, PiperTTS

    llm = LlamaLLM()
    loaded = llm.loaded()
    piper = PiperTTS().voice()
    system = DEFAULT_SYSTEM_PROMPT
    loaded.evaluate(
        lambda: loaded.llama.create_chat_completion(messages(system, "Hi"), max_tokens=1)
    )
    load_before = os.getloadavg()

    burner = None
    if opts.burner:
        burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(1.0)
    try:
        contenders = {"one thread": 1, "two until the first clause": 2}
        rows: list[dict[str, Any]] = []
        for i, text in enumerate(REQUESTS):
            order = list(contenders.items())
            if i % 2:
                order.reverse()
            row: dict[str, Any] = {"request": text}
            for label, burst in order:
                row[label] = first_clause(loaded, system, text, burst)
            rows.append(row)
        tools = tool_specs()
        tool_rows: list[dict[str, Any]] = []
        for i, (which, text) in enumerate(TOOL_REQUESTS):
            order = list(contenders.items())
            if i % 2:
                order.reverse()
            tool_row: dict[str, Any] = {"request": text, "tool": tools[which].name}
            for label, burst in order:
                tool_row[label] = arguments_secs(loaded, tools[which], text, burst)
            tool_rows.append(tool_row)
    finally:
        if burner is not None:
            burner.kill()
            burner.wait()
    loaded.threads.burst_threads = min(llm.first_clause_threads, os.cpu_count() or 1)

    tokens = {}
    if not opts.burner:
        tokens = {
            "one thread": token_ms(loaded, system, 1),
            "two threads": token_ms(loaded, system, 2),
            "two threads, Piper synthesizing beside": token_ms(loaded, system, 2, piper),
        }
        # Last: once a second thread has evaluated the model, the process keeps its team.
        loaded.llama.create_chat_completion(messages(system, "Hi"), max_tokens=1)
        tokens["two threads, after a second thread evaluated once"] = token_ms(loaded, system, 2)

    summary = {}
    for label in contenders:
        secs = [r[label]["secs"] for r in rows]
        summary[label] = {
            "p50_secs": round(statistics.median(secs), 3),
            "mean_secs": round(statistics.fmean(secs), 3),
            "max_secs": round(max(secs), 3),
            "two_threads": {
                how: sum(1 for r in rows if r[label]["burst"] == how)
                for how in sorted({r[label]["burst"] for r in rows})
            },
        }

    print(f"\npython benchmarks/llama_first_clause.py{' --burner' if opts.burner else ''}")
    if tokens:
        print("\n| token time | p50 | max |\n|---|---|---|")
        for label, t in tokens.items():
            print(f"| {label} | {t['p50_ms']:.0f} ms | {t['max_ms']:.0f} ms |")
    print("\n| first clause | p50 | mean | max | two threads until (replies) |")
    print("|---|---|---|---|---|")
    for label, s in summary.items():
        ends = ", ".join(f"{k}: {v}" for k, v in s["two_threads"].items())
        print(
            f"| {label} | {s['p50_secs']:.2f} s | {s['mean_secs']:.2f} s | "
            f"{s['max_secs']:.2f} s | {ends if label != 'one thread' else '-'} |"
        )

    tool_summary = {}
    print("\n| tool arguments | p50 | mean | max | same arguments as one thread |")
    print("|---|---|---|---|---|")
    for label in contenders:
        secs = [r[label]["secs"] for r in tool_rows]
        same = sum(1 for r in tool_rows if r[label]["arguments"] == r["one thread"]["arguments"])
        tool_summary[label] = {
            "p50_secs": round(statistics.median(secs), 3),
            "mean_secs": round(statistics.fmean(secs), 3),
            "max_secs": round(max(secs), 3),
            "same_arguments_as_one_thread": same,
        }
        print(
            f"| {label} | {statistics.median(secs):.2f} s | {statistics.fmean(secs):.2f} s | "
            f"{max(secs):.2f} s | {same}/{len(tool_rows)} |"
        )

    out = ROOT / "benchmarks" / "results" / f"{opts.name}.json"
    out.write_text(
        json.dumps(
            {
                "command": " ".join(["python", "benchmarks/llama_first_clause.py", *sys.argv[1:]]),
                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "config": {
                    "model_file": loaded.path.name,
                    "profile": llm.profile,
                    "threads": loaded.threads.describe(),
                    "temperature": 0.0,
                    "system_prompt": "voicebot.bot.DEFAULT_SYSTEM_PROMPT",
                    "burner": opts.burner,
                },
                "machine": {
                    "cpus": os.cpu_count(),
                    "cpu_model": cpu_model(),
                    "load_avg_before": load_before,
                    "load_avg_after": os.getloadavg(),
                },
                "token_times": tokens,
                "first_clause": summary,
                "requests": rows,
                "tool_arguments": tool_summary,
                "tool_requests": tool_rows,
            },
            indent=1,
        )
    )
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
