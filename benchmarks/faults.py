"""Every fault case of tests/faults through the three-turn harness, as a table.

Runs each ``FaultCase`` of ``tests/faults/test_*_faults.py`` (``CASES`` in each module:
OpenAI here, Deepgram and Cartesia where their modules exist): a three-turn call whose turn
2 meets the fault (``tests/faults/harness.py``). For each: what turn 2 got (the fallback's
answer or the apology), the gap the caller heard on turns 1-3 (end of the question to the
bot's first audio, read off the two WAV files), the switch (reason, seconds from the request
to the switch), whether turn 3 was answered, and whether the session ended by itself. The
bound is the stage budget + 1 s after the caller's turn ended (``ENDPOINTING_SECS``).

``--hybrid`` adds (``--hybrid-only`` runs only) the hybrid measurement:
``llm=[OpenAILLM(cloud), LlamaLLM()]`` with the cloud refusing connections on every turn,
the cloud hanging on every turn, and the local model alone (the baseline), so the latency
cost of failing over to the local model shows.

    .venv/bin/python -m benchmarks.faults [--only openai-http-500 ...] [--hybrid] [--reps 2]

Writes benchmarks/results/faults.json (every case's configuration and outcome) and the
table into docs/reliability.md, between its ``faults-table`` markers; the hybrid runs go to
benchmarks/results/faults_hybrid.json and the ``hybrid-table``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import REPO, save, setup, table
from tests.faults.harness import (
    ENDPOINTING_SECS,
    QUESTIONS,
    SLACK_SECS,
    CallOutcome,
    FaultCase,
    run_three_turn_call,
    three_turn_bot,
)

MODULES = ("test_openai_faults", "test_deepgram_faults", "test_cartesia_faults")
DOC = REPO / "docs" / "reliability.md"
START, END = "<!-- faults-table:start -->", "<!-- faults-table:end -->"
HYBRID_START, HYBRID_END = "<!-- hybrid-table:start -->", "<!-- hybrid-table:end -->"


def cases() -> list[FaultCase]:
    found: list[FaultCase] = []
    for name in MODULES:
        try:
            module = importlib.import_module(f"tests.faults.{name}")
        except ImportError:
            continue
        found.extend(getattr(module, "CASES", []))
    return found


def _secs(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def row(case: FaultCase, outcome: CallOutcome) -> list[Any]:
    turns = {t.index: t for t in outcome.turns}
    second = turns.get(2)
    switches = second.failovers if second is not None else []
    got = "-"
    if second is not None and second.heard:
        got = "apology" if any(s["to_provider"] == "apology" for s in switches) else "fallback"
    bound = ENDPOINTING_SECS + case.budget_secs + SLACK_SECS
    gap2 = second.gap_secs if second is not None else None
    within = "yes" if gap2 is not None and gap2 <= bound else "NO"
    reasons = ", ".join(f"{s['reason']} @{_secs(s['after_secs'])}s" for s in switches) or "-"
    third = turns.get(3)
    return [
        case.stage,
        case.vendor,
        case.fault,
        got,
        reasons,
        _secs(turns[1].gap_secs if 1 in turns else None),
        _secs(gap2),
        f"{bound:.1f}",
        within,
        "yes" if third is not None and third.heard else "NO",
        "yes" if outcome.ended_cleanly else f"NO ({outcome.error})",
    ]


HEADERS = [
    "stage",
    "vendor",
    "fault on turn 2",
    "turn 2 got",
    "switch (reason @ s after the request)",
    "gap 1 (s)",
    "gap 2 (s)",
    "bound (s)",
    "within",
    "turn 3",
    "ended cleanly",
]


def markdown(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def write_doc(start: str, end: str, body: str) -> None:
    text = DOC.read_text()
    head, found, rest = text.partition(start)
    if not found:
        raise SystemExit(f"{DOC} has no {start} marker")
    _, found, tail = rest.partition(end)
    if not found:
        raise SystemExit(f"{DOC} has no {end} marker")
    DOC.write_text(f"{head}{start}\n{body}\n{end}{tail}")


# ---- the hybrid measurement ------------------------------------------------------------------


async def hybrid(workdir: Path, reps: int) -> dict[str, Any]:
    """Cloud refused / cloud hanging on every turn, with LlamaLLM() behind it; the local
    model alone as the baseline. One unrecorded local call first warms the model."""
    from tests.faults.openai_faults import FaultyOpenAIServer, Hang
    from voicebot import LlamaLLM, OpenAILLM

    local = LlamaLLM()
    await asyncio.to_thread(local.prepare)  # the model loads once, before any call
    await run_three_turn_call(three_turn_bot(llm=local), workdir / "warm-up", case="warm-up")
    refusing = socket.socket()
    refusing.bind(("127.0.0.1", 0))
    refused_url = f"http://127.0.0.1:{refusing.getsockname()[1]}/v1"
    results: dict[str, Any] = {}
    try:
        for rep in range(reps):
            for name in ("local only", "cloud refused -> local", "cloud hangs -> local"):
                key = f"{name} #{rep + 1}"
                where = workdir / key.replace(" ", "_").replace(">", "")
                if name == "cloud hangs -> local":
                    async with FaultyOpenAIServer([Hang(), Hang(), Hang()]) as server:
                        llm: Any = [OpenAILLM(base_url=server.base_url), local]
                        outcome = await run_three_turn_call(
                            three_turn_bot(llm=llm), where, case=key
                        )
                else:
                    llm = (
                        local if name == "local only" else [OpenAILLM(base_url=refused_url), local]
                    )
                    outcome = await run_three_turn_call(three_turn_bot(llm=llm), where, case=key)
                results[key] = outcome.to_dict()
    finally:
        refusing.close()
    return results


def hybrid_rows(results: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for name, outcome in results.items():
        for turn in outcome["turns"]:
            switches = turn["failovers"]
            rows.append(
                [
                    name,
                    turn["index"],
                    _secs(turn["gap_secs"]),
                    ", ".join(f"{s['reason']} @{_secs(s['after_secs'])}s" for s in switches) or "-",
                    turn["heard"][:60],
                ]
            )
    return rows


HYBRID_HEADERS = ["llm", "turn", "gap (s)", "switch", "heard"]


async def main(only: list[str], with_hybrid: bool, hybrid_only: bool, reps: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="voicebot-faults-"))
    if not hybrid_only:
        await run_cases(only, workdir)
    if with_hybrid or hybrid_only:
        results = await hybrid(workdir, reps)
        rows = hybrid_rows(results)
        print(table(HYBRID_HEADERS, rows, title="hybrid: cloud -> LlamaLLM()"))
        path = save("faults_hybrid", {"reps": reps, "questions": QUESTIONS, "runs": results})
        print(f"\nwrote {path}")
        write_doc(HYBRID_START, HYBRID_END, markdown(HYBRID_HEADERS, rows))
        print(f"wrote the hybrid table into {DOC}")


async def run_cases(only: list[str], workdir: Path) -> None:
    selected = [c for c in cases() if not only or c.name in only]
    rows, records = [], []
    for case in selected:
        began = time.monotonic()
        outcome = await case.run(workdir / case.name)
        rows.append(row(case, outcome))
        records.append(
            {
                "case": case.name,
                "stage": case.stage,
                "vendor": case.vendor,
                "fault": case.fault,
                "budget_secs": case.budget_secs,
                "expect": case.expect,
                "outcome": outcome.to_dict(),
                "wall_secs": round(time.monotonic() - began, 2),
            }
        )
        print(table(HEADERS, [rows[-1]]), flush=True)
    print()
    print(table(HEADERS, rows, title="faults on turn 2 of a three-turn call"))
    data: dict[str, Any] = {
        "questions": QUESTIONS,
        "endpointing_secs": ENDPOINTING_SECS,
        "slack_secs": SLACK_SECS,
        "cases": records,
    }
    path = save("faults" if not only else "faults_partial", data)
    print(f"\nwrote {path}")
    if not only:
        write_doc(START, END, markdown(HEADERS, rows))
        print(f"wrote the table into {DOC}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", default=[], help="case names (vendor-fault)")
    parser.add_argument("--hybrid", action="store_true", help="also cloud -> LlamaLLM()")
    parser.add_argument("--hybrid-only", action="store_true", help="only the hybrid runs")
    parser.add_argument("--reps", type=int, default=2, help="hybrid runs of each kind")
    args = parser.parse_args()
    setup(cpu=-1)  # not pinned: the servers and the bot share the machine as in production
    asyncio.run(main(args.only, args.hybrid, args.hybrid_only, args.reps))
