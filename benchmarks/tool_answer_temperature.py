"""Does the 0.5B state a tool's result? Its answers to tool results sampled at 0.2 (the
replies' temperature) against its likeliest words (0, ``LlamaLLM.tool_answer_temperature``).

Two sets, through the product's service (``LlamaCppLLMService``: chat template, tool note,
reply guard), each answer from a fresh service:
- ``cases``: the 13 of ``benchmarks/prompts/tool_answers_{dev,heldout}.json`` (the default
  system prompt, no greeting), checked as ``offline_answers.py --tool-answers`` checks them;
- ``demo``: ``make demo``'s tool turn in its own context (examples/offline_bot.py's system
  prompt and greeting; the tool said "On Sunday the library is closed"): right if the
  answer says "closed".

    python benchmarks/tool_answer_temperature.py --tries 10 --demo-tries 20

Writes benchmarks/results/tool_answer_temperature.json (every answer).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import save, setup, table  # noqa: E402
from benchmarks.offline_answers import PROMPTS, tool_answer, tool_checks  # noqa: E402

DEMO = {
    "text": "Hi, what time does the library open tomorrow?",
    "tool": "opening_hours",
    "args": {"day": "tomorrow"},
    "result": "On Sunday the library is closed",
    "expect": ["closed"],
}


async def demo_answer(bot: Any, llm: Any) -> str:
    greeting = [{"role": "assistant", "content": bot.greeting}]
    reply, _ = await tool_answer(llm.build(bot.build_context({})), DEMO, greeting)
    return reply


async def run(tries: int, demo_tries: int) -> dict[str, Any]:
    from voicebot import Bot
    from voicebot.bot_file import load_bot
    from voicebot.providers.local.llama import LlamaLLM

    cases = []
    for name in ("dev", "heldout"):
        cases += json.loads((PROMPTS / f"tool_answers_{name}.json").read_text())["cases"]
    demo_bot = load_bot(str(ROOT / "examples" / "offline_bot.py"))
    out: dict[str, Any] = {}
    for label, temperature, n in (("0.2", 0.2, tries), ("0 (likeliest)", 0.0, 2)):
        llm = LlamaLLM(temperature=temperature, tool_answer_temperature=None)
        llm.prepare()
        rows = []
        for case in cases:
            replies = []
            for _ in range(n):
                reply, _ = await tool_answer(llm.build(Bot().build_context({})), case)
                replies.append(
                    {"reply": reply, "ok": all(tool_checks(reply, case["expect"]).values())}
                )
            rows.append({"question": case["text"], "replies": replies})
        demo_llm = demo_bot.llm.model_copy(
            update={"temperature": temperature, "tool_answer_temperature": None}
        )
        m = demo_tries if temperature else max(2, demo_tries // 4)
        demo = [(await demo_answer(demo_bot, demo_llm)).lower() for _ in range(m)]
        out[label] = {
            "cases": rows,
            "demo": [{"reply": r, "ok": "closed" in r} for r in demo],
        }
        ok = sum(x["ok"] for r in rows for x in r["replies"])
        print(
            f"{label}: cases {ok}/{len(cases) * n}, demo {sum('closed' in r for r in demo)}/{m}",
            flush=True,
        )
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tries", type=int, default=10, help="answers per case at 0.2")
    p.add_argument("--demo-tries", type=int, default=20, help="demo answers at 0.2")
    p.add_argument("--name", default="tool_answer_temperature")
    args = p.parse_args(argv)
    setup(cpu=-1)
    out = asyncio.run(run(args.tries, args.demo_tries))
    rows = []
    for label, r in out.items():
        answers = [x for c in r["cases"] for x in c["replies"]]
        rows.append([label, f"{sum(x['ok'] for x in answers)}/{len(answers)}",
                     f"{sum(x['ok'] for x in r['demo'])}/{len(r['demo'])}"])  # fmt: skip
    print(table(["temperature", "13 cases: states the result", "demo: says closed"], rows,
                "answers to tool results, Qwen2.5-Coder-0.5B (balanced)"))  # fmt: skip
    path = save(
        args.name,
        {
            "results": out,
            "config": {"model": "LlamaLLM balanced (Qwen2.5-Coder-0.5B Q8_0)", "tries": args.tries,
                       "demo_tries": args.demo_tries, "greedy_tries": 2},
        },
    )  # fmt: skip
    print(f"→ {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
