"""Cascading models: how many turns the fast model keeps, what that costs in answers, and
what it saves in time, against each model alone (issue #15 item 4).

Setup. The 44 requests of ``benchmarks/cascade_requests.py`` (22 routine, 22 hard; written
with their rubrics before any run, sha256 in the results) go one at a time, each as a fresh
conversation (the clinic's system prompt, its three tools, the caller's one message), to
three contenders built through the product's own code (``LlamaLLM``'s Pipecat service:
chat template, tool router, grammar-filled arguments, reply guard):

- **fast alone**: ``LlamaLLM()`` (the default profile: Qwen2.5-Coder-0.5B-Instruct);
- **capable alone**: ``LlamaLLM(profile="quality")`` (Qwen2.5-Coder-1.5B-Instruct);
- **cascade**: ``Cascade(fast=..., capable=..., route=...)`` with each route of ``ROUTES``
  (the library's default, and one with a length rule and reasoning keywords; both fixed
  before any run).

Temperature 0 for every model, so a cascade path and the same model alone answer alike and
the differences are the routing's. A tool request's turn ends at the tool call (there is no
context aggregator to ask the model again): its rubric is the call, its "full reply" the call.

Measured per request: the rubric's verdict; the time from the request to the first text the
caller would hear (for an escalated turn: the bridge), to the model's first answer text (or
tool call), and to the end of the reply; for the cascade, the path that answered.
Every contender runs in this one process, in turn per request (order rotating), on both
cores (llama.cpp's own threads; ``LlamaLLM(threads=1)`` generation, prompt on up to 4), each
run starting with both models' system prompt cached (``warm``).

    python -m benchmarks.bench_cascade            # ~15-25 min on 2 cores
    python -m benchmarks.bench_cascade --limit 4  # a quick look
    python -m benchmarks.bench_cascade --fake     # the harness only, scripted models
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.cascade_requests import REQUESTS, SYSTEM_PROMPT, TOOLS, Request, passes  # noqa: E402
from benchmarks.common import dist, machine, ms, save, table  # noqa: E402

BRIDGE = "Let me check that."
#: The routes measured, by name: fixed before the first run, not tuned on the results.
ROUTES = {
    "default": "any_of(needs_tool, fast_declines)",
    "rules": (
        "any_of(needs_tool, longer_than(14), keywords(['if', 'total', 'together', 'percent', "
        "'times', 'how many', 'compare', 'explain', 'step by step', 'budget', 'afford', "
        "'which']), fast_declines)"
    ),
}


def route(name: str) -> Any:
    from voicebot.cascade import any_of, fast_declines, keywords, longer_than, needs_tool

    if name == "default":
        return any_of(needs_tool, fast_declines)
    words = [
        "if",
        "total",
        "together",
        "percent",
        "times",
        "how many",
        "compare",
        "explain",
        "step by step",
        "budget",
        "afford",
        "which",
    ]
    return any_of(needs_tool, longer_than(14), keywords(words), fast_declines)


@dataclass
class Outcome:
    """One request to one contender."""

    contender: str
    request: int
    kind: str
    passed: bool
    reply: str
    calls: list[tuple[str, dict[str, Any]]]
    path: str | None  # the cascade's; None for a model alone
    reason: str | None
    first_heard_secs: float | None  # request -> first text out (the bridge, if any)
    first_answer_secs: float | None  # request -> the model's first text or tool call
    full_secs: float | None  # request -> the end of the reply
    events: list[dict[str, Any]] = field(default_factory=list)


def function_schemas() -> Any:
    from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
    from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema

    return ToolsSchema(
        [
            FunctionSchema(
                name=t["name"],
                description=t["description"],
                properties=t["properties"],
                required=t["required"],
            )
            for t in TOOLS
        ]
    )


def providers(fake: bool) -> tuple[Any, Any]:
    if fake:
        from voicebot.testing import FakeLLM

        return (
            FakeLLM(ttft_secs=0.05, fallback="I'm not sure. {user}"),
            FakeLLM(ttft_secs=0.2, fallback="We are open 8 to 6, 90 dollars. {user}"),
        )
    from voicebot import LlamaLLM

    return LlamaLLM(temperature=0.0), LlamaLLM(profile="quality", temperature=0.0)


async def ask(name: str, processor: Any, index: int, request: Request) -> Outcome:
    """One request through ``processor``, timed at the frames it pushes."""
    from pipecat.frames.frames import (
        EndFrame,
        Frame,
        FunctionCallsStartedFrame,
        LLMContextFrame,
        LLMFullResponseEndFrame,
        LLMTextFrame,
    )
    from pipecat.processors.aggregators.llm_context import LLMContext
    from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
    from pipecat.tests.utils import run_test

    calls: list[tuple[str, dict[str, Any]]] = []
    stamps: dict[str, float] = {}
    texts: list[str] = []
    replied = asyncio.Event()

    class HoldEnd(FrameProcessor):
        """Holds the run's EndFrame until the reply has ended: an EndFrame in a Pipecat
        ``ParallelPipeline`` (the switchers) buffers its branches' output until every
        branch has it, which would deliver a streamed reply all at once."""

        async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
            await super().process_frame(frame, direction)
            if isinstance(frame, EndFrame):
                async with asyncio.timeout(300):
                    await replied.wait()
            await self.push_frame(frame, direction)

    class Stopwatch(FrameProcessor):
        async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
            await super().process_frame(frame, direction)
            now = time.perf_counter()
            if isinstance(frame, LLMTextFrame):
                stamps.setdefault("heard", now)
                texts.append(frame.text)
                if "".join(texts).strip() != BRIDGE and frame.text.strip():
                    stamps.setdefault("answer", now)
            elif isinstance(frame, FunctionCallsStartedFrame):
                stamps.setdefault("answer", now)
                stamps["end"] = now
            elif isinstance(frame, LLMFullResponseEndFrame):
                stamps["end"] = now
                replied.set()
            await self.push_frame(frame, direction)

    async def handler(params: Any) -> None:
        calls.append((params.function_name, dict(params.arguments or {})))
        await params.result_callback({"status": "done"}, properties=None)

    for tool in TOOLS:
        processor.register_function(tool["name"], handler)
    context = LLMContext([{"role": "user", "content": request.text}], tools=function_schemas())
    events_before = len(getattr(processor, "events", []))
    from pipecat.pipeline.pipeline import Pipeline

    began = time.perf_counter()
    await run_test(
        Pipeline([HoldEnd(), processor, Stopwatch()]), frames_to_send=[LLMContextFrame(context)]
    )
    reply = "".join(texts).strip()
    if reply.startswith(BRIDGE):
        reply = reply[len(BRIDGE) :].strip()
    events = [e.to_dict() for e in getattr(processor, "events", [])[events_before:]]
    since = {k: v - began for k, v in stamps.items()}
    return Outcome(
        contender=name,
        request=index,
        kind=request.kind,
        passed=passes(request, reply, calls),
        reply=reply,
        calls=calls,
        path=events[-1]["path"] if events else None,
        reason=events[-1]["reason"] if events else None,
        first_heard_secs=since.get("heard", since.get("answer")),
        first_answer_secs=since.get("answer"),
        full_secs=since.get("end"),
        events=events,
    )


def warm(providers: tuple[Any, ...]) -> None:
    """Both models' system prompt cached before each timed run, whatever ran before (a tool
    call's argument prompt evicts it): every contender starts from the same state, so their
    order does not matter (as ``benchmarks/offline_latency.py`` does)."""
    from benchmarks.offline_latency import warm_up_messages

    for provider in providers:
        if hasattr(provider, "loaded"):
            model = provider.loaded()
            model.evaluate(  # on the model's own thread (``LoadedLlama.evaluate``)
                lambda m=model: m.llama.create_chat_completion(
                    warm_up_messages(SYSTEM_PROMPT), max_tokens=1
                )
            )


def build(name: str, fast: Any, capable: Any) -> Any:
    """A fresh processor for one request (a session builds one per call)."""
    from voicebot.cascade import Cascade
    from voicebot.providers.base import BuildContext

    ctx = BuildContext(system_prompt=SYSTEM_PROMPT)
    if name == "fast alone":
        return fast.build(ctx)
    if name == "capable alone":
        return capable.build(ctx)
    return Cascade(fast=fast, capable=capable, route=route(name.split(": ")[1])).build(ctx)


async def run(limit: int | None, fake: bool) -> dict[str, Any]:
    fast, capable = providers(fake)
    loads: dict[str, float] = {}
    for provider, what in ((fast, "fast"), (capable, "capable")):
        began = time.perf_counter()
        provider.prepare()
        provider.prepare_tools(function_schemas().standard_tools)
        loads[what] = time.perf_counter() - began
    contenders = ["fast alone", "capable alone", *(f"cascade: {r}" for r in ROUTES)]
    # Warm each model's prompt cache with the system prompt (as a served bot's would be).
    for name in ("fast alone", "capable alone"):
        await ask(name, build(name, fast, capable), -1, Request("Hello.", "routine"))
    outcomes: list[Outcome] = []
    requests = list(REQUESTS)[:limit] if limit else list(REQUESTS)
    load_before = os.getloadavg()
    began = time.perf_counter()
    for i, request in enumerate(requests):
        order = contenders[i % len(contenders) :] + contenders[: i % len(contenders)]
        for name in order:
            warm((fast, capable))
            outcome = await ask(name, build(name, fast, capable), i, request)
            outcomes.append(outcome)
        print(f"{i + 1}/{len(requests)} {request.text[:50]!r}", file=sys.stderr)
    return {
        "config": {
            "requests": "benchmarks/cascade_requests.py",
            "requests_sha256": hashlib.sha256(
                (ROOT / "benchmarks" / "cascade_requests.py").read_bytes()
            ).hexdigest(),
            "n_requests": len(requests),
            "fast": fast.describe(),
            "capable": capable.describe(),
            "routes": ROUTES,
            "bridge": BRIDGE,
            "system_prompt": SYSTEM_PROMPT,
            "tools": [t["name"] for t in TOOLS],
            "fake_models": fake,
            "model_load_secs": loads,
            "turn": "one fresh context per request; a tool turn ends at the tool call",
            "warm": "both models' system prompt cached before every timed run",
            "temperature": 0.0,
        },
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in os.getloadavg()],
        "run_secs": time.perf_counter() - began,
        "summary": summarize(outcomes, contenders),
        "outcomes": [o.__dict__ for o in outcomes],
    }


def summarize(outcomes: list[Outcome], contenders: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    capable = {o.request: o.passed for o in outcomes if o.contender == "capable alone"}
    for name in contenders:
        mine = [o for o in outcomes if o.contender == name]
        row: dict[str, Any] = {
            "n": len(mine),
            "pass_rate": _rate([o.passed for o in mine]),
            "pass_rate_routine": _rate([o.passed for o in mine if o.kind == "routine"]),
            "pass_rate_hard": _rate([o.passed for o in mine if o.kind == "hard"]),
            "agrees_with_capable": _rate([o.passed == capable.get(o.request) for o in mine]),
            "first_heard": dist([o.first_heard_secs for o in mine if o.first_heard_secs]),
            "first_answer": dist([o.first_answer_secs for o in mine if o.first_answer_secs]),
            "full": dist([o.full_secs for o in mine if o.full_secs]),
        }
        if name.startswith("cascade"):
            row["share_fast"] = _rate([o.path == "fast" for o in mine])
            row["share_fast_routine"] = _rate(
                [o.path == "fast" for o in mine if o.kind == "routine"]
            )
            row["share_fast_hard"] = _rate([o.path == "fast" for o in mine if o.kind == "hard"])
            row["reasons"] = {
                r: sum(1 for o in mine if o.reason == r)
                for r in sorted({str(o.reason) for o in mine})
            }
            row["paths"] = {}
            for path in ("fast", "capable"):
                taken = [o for o in mine if o.path == path]
                row["paths"][path] = {
                    "n": len(taken),
                    "pass_rate": _rate([o.passed for o in taken]),
                    "first_heard": dist([o.first_heard_secs for o in taken if o.first_heard_secs]),
                    "first_answer": dist(
                        [o.first_answer_secs for o in taken if o.first_answer_secs]
                    ),
                    "full": dist([o.full_secs for o in taken if o.full_secs]),
                    # Each model alone on the very requests this path took.
                    "alone_on_these": {
                        alone: _alone(outcomes, alone, {o.request for o in taken})
                        for alone in ("fast alone", "capable alone")
                    },
                }
        out[name] = row
    return out


def _alone(outcomes: list[Outcome], name: str, requests: set[int]) -> dict[str, Any]:
    theirs = [o for o in outcomes if o.contender == name and o.request in requests]
    return {
        "pass_rate": _rate([o.passed for o in theirs]),
        "first_answer": dist([o.first_answer_secs for o in theirs if o.first_answer_secs]),
        "full": dist([o.full_secs for o in theirs if o.full_secs]),
    }


def _rate(values: list[bool]) -> float | None:
    return sum(values) / len(values) if values else None


def report(r: dict[str, Any]) -> str:
    s = r["summary"]

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{100 * v:.0f}%"

    rows = []
    for name, x in s.items():
        lines = [(name, x)]
        if "paths" in x:
            lines += [(f"  {name.split(': ')[1]} via {p}", y) for p, y in x["paths"].items()]
        for label, y in lines:
            rows.append(
                [
                    label,
                    y["n"],
                    pct(x.get("share_fast")) if label == name else "",
                    pct(y["pass_rate"]),
                    pct(y.get("pass_rate_routine")) if "pass_rate_routine" in y else "",
                    pct(y.get("pass_rate_hard")) if "pass_rate_hard" in y else "",
                    ms(y["first_heard"]["p50"], 0),
                    ms(y["first_heard"]["p95"], 0),
                    ms(y["first_answer"]["p50"], 0),
                    ms(y["first_answer"]["p95"], 0),
                    ms(y["full"]["p50"], 0),
                    ms(y["full"]["p95"], 0),
                ]
            )
    headers = [
        "",
        "n",
        "by fast",
        "pass",
        "routine",
        "hard",
        "heard p50",
        "p95",
        "answer p50",
        "p95",
        "full p50",
        "p95",
    ]
    title = (
        f"Cascade: {r['config']['n_requests']} requests; rubric pass rate; ms from the request "
        f"to the first text heard (the bridge on an escalation), the model's first answer "
        f"text or tool call, and the reply's end. Load {r['load_avg_before']} -> "
        f"{r['load_avg_after']}"
    )
    return table(headers, rows, title)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--limit", type=int, default=None, help="only the first N requests")
    p.add_argument("--fake", action="store_true", help="scripted models: test the harness")
    p.add_argument("--name", default="cascade", help="results/<name>.json")
    p.add_argument(
        "--from-json",
        action="store_true",
        help="no run: recompute the summary and table from results/<name>.json's outcomes",
    )
    args = p.parse_args(argv)
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="ERROR")
    if args.from_json:
        path = ROOT / "benchmarks" / "results" / f"{args.name}.json"
        r = json.loads(path.read_text())
        outcomes = [Outcome(**o) for o in r["outcomes"]]
        r["summary"] = summarize(outcomes, list(r["summary"]))
        path.write_text(json.dumps(r, indent=2, default=float) + "\n")
        print(report(r))
        return r
    r = asyncio.run(run(args.limit, args.fake))
    r["machine_at_start"] = machine()
    path = save(args.name, r)
    print(report(r))
    print(f"-> {path.relative_to(ROOT)}")
    print(json.dumps({k: v.get("share_fast") for k, v in r["summary"].items()}))
    return r


if __name__ == "__main__":
    main()
