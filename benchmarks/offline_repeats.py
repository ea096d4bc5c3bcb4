"""Does the offline bot repeat an earlier reply of the same call? Multi-turn conversations
through the offline LLM, counted.

Each conversation goes turn by turn through the product's own LLM service
(``LlamaLLM(...).build(...)``: chat template, history from the context, sampling,
``ReplyGuard``), driven as ``benchmarks/offline_answers.py`` drives it (``run_test`` on an
``LLMContextFrame``), with the call's history kept in one ``LLMContext`` as the bot keeps it:
the caller's words as a user message, what the bot said as an assistant message.

A reply *repeats* an earlier reply of its conversation when either
- it shares a run of >= 6 consecutive words with one earlier reply (``RUN_WORDS``), or
- >= 60 % of its distinct word pairs (bigrams) occur in one earlier reply (``OVERLAP``;
  replies of 4 words or more),
words lower-cased, punctuation dropped. A turn where the caller asks to hear the last answer
again is not counted (a repeat is the right answer there); it is reported on its own.

The on-topic checks are ``offline_answers.checks`` on each turn (expected words written with
the caller lines); ``--answers`` also runs the single-question held-out set of
``offline_answers.py`` through each variant. Each reply is sampled with a fixed seed per
(seed, conversation, turn), so variants differ only by their settings.

    python benchmarks/offline_repeats.py --variants before,after --answers
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import RESULTS, save, setup, table  # noqa: E402
from benchmarks.offline_answers import PROMPTS, checks, text_reply  # noqa: E402

RUN_WORDS = 6
OVERLAP = 0.6

#: The callers. Written (lines and expected topic words) before any reply of the model to
#: them was seen, and not edited after; spoken style, as Whisper transcribes a caller.
#: ``again``: the caller asks for the last answer again (a repeat is right there).
# fmt: off
CONVERSATIONS: list[dict[str, Any]] = [
    {"name": "dinner", "turns": [
        ("Hey, um, I've got some chicken and rice at home, what could I make for dinner tonight?",
         ["chicken", "rice", "stir", "fry", "bake", "cook", "dish"]),
        ("Okay, and how long should I cook the chicken for?",
         ["minute", "hour", "until", "degree", "cook"]),
        ("What kind of spices would go well with that?",
         ["garlic", "paprika", "pepper", "cumin", "salt", "herb", "spice", "ginger", "oregano"]),
        ("I don't really have any of those, I only have salt and pepper.",
         ["salt", "pepper", "lemon", "fine", "still", "work", "simple"]),
        ("Can I make it the day before and just reheat it?",
         ["yes", "fridge", "reheat", "day", "store", "refrigerat"]),
        ("Alright, and what could I serve it with on the side?",
         ["salad", "vegetable", "bread", "potato", "bean", "broccoli", "side"]),
    ]},
    {"name": "lisbon", "turns": [
        ("So I'm thinking of taking a trip to Lisbon in the spring.",
         ["lisbon", "spring", "portugal", "great", "trip"]),
        ("What's the weather usually like there in April?",
         ["warm", "mild", "rain", "degree", "sun", "weather", "temperature"]),
        ("And what should I definitely go and see?",
         ["belem", "tower", "alfama", "castle", "tram", "museum", "visit", "see"]),
        ("Is it easy to get around without a car?",
         ["tram", "metro", "bus", "walk", "public", "transport", "yes"]),
        ("How many days do you think I need there?",
         ["day", "three", "four", "five", "week"]),
        ("Okay, cool. Any food I should try while I'm there?",
         ["pastel", "nata", "bacalhau", "sardine", "seafood", "food", "try"]),
    ]},
    {"name": "sleep", "turns": [
        ("I've been having trouble sleeping lately, like I just lie there awake.",
         ["sleep", "sorry", "routine", "relax"]),
        ("Yeah, I usually have coffee in the afternoon. Could that be it?",
         ["caffeine", "coffee", "yes", "could", "afternoon"]),
        ("What time should I stop drinking it, then?",
         ["hour", "noon", "pm", "afternoon", "before", "o'clock", "time"]),
        ("And is it bad to look at my phone in bed?",
         ["screen", "light", "blue", "phone", "yes", "bed"]),
        ("What else can I do if I still can't fall asleep?",
         ["get up", "read", "breath", "relax", "bed", "sleep", "meditat"]),
        ("Okay, thanks, that's really helpful.",
         ["welcome", "glad", "luck", "sleep", "help"]),
    ]},
    {"name": "laptop", "turns": [
        ("Hi, my laptop has gotten really slow, like everything takes forever.",
         ["restart", "slow", "program", "memory", "update", "disk", "storage", "laptop"]),
        ("I already restarted it and it's still slow.",
         ["program", "background", "startup", "task", "disk", "storage", "virus", "update",
          "memory"]),
        ("How do I see what's using up all the memory?",
         ["task manager", "activity monitor", "memory", "open"]),
        ("There's something called a browser with, like, forty tabs open.",
         ["tab", "close", "browser", "memory"]),
        ("Would getting more RAM actually help?",
         ["ram", "memory", "yes", "help", "upgrade"]),
        ("Alright, I'll try closing stuff first. Thanks.",
         ["welcome", "luck", "good", "help", "sounds"]),
    ]},
    {"name": "running", "turns": [
        ("I want to start running, but I've never really done it before.",
         ["start", "slow", "walk", "run", "short", "beginner", "great"]),
        ("How far should I go the first time?",
         ["minute", "mile", "kilomet", "short", "walk", "distance", "km"]),
        ("What about shoes? Do I need special ones?",
         ["shoe", "running", "fit", "support", "yes"]),
        ("My knees hurt a bit after walking sometimes. Is running still okay?",
         ["knee", "doctor", "pain", "stop", "soft", "careful"]),
        ("How often should I go each week?",
         ["three", "two", "times", "week", "day", "rest"]),
        ("And should I stretch before or after?",
         ["stretch", "after", "before", "warm"]),
    ]},
    {"name": "gift", "turns": [
        ("My friend's birthday is next week and I have no idea what to get her.",
         ["gift", "book", "like", "hobby", "interest", "present", "birthday"]),
        ("She's really into gardening.",
         ["garden", "plant", "seed", "tool", "glove", "pot"]),
        ("I don't want to spend more than, like, thirty dollars.",
         ["dollar", "$", "30", "thirty", "budget", "seed", "glove", "tool", "pot", "book"]),
        ("Hmm, would a book be a boring gift?",
         ["book", "not", "boring", "garden", "thoughtful", "no"]),
        ("Okay, what about something I could make myself?",
         ["make", "diy", "pot", "paint", "card", "homemade", "handmade"]),
        ("Should I wrap it or just use a gift bag?",
         ["wrap", "bag", "either", "paper", "gift"]),
    ]},
    {"name": "brakes", "turns": [
        ("My car's making this weird squeaking noise when I brake.",
         ["brake", "pad", "mechanic", "squeak", "check"]),
        ("Is it safe to keep driving it for a few days?",
         ["safe", "mechanic", "soon", "check", "brake", "careful", "risk"]),
        ("How much does it usually cost to replace brake pads?",
         ["$", "dollar", "cost", "price", "hundred", "100", "150"]),
        ("Could it just be because it rained this morning?",
         ["rain", "water", "moist", "wet", "rust", "yes", "could"]),
        ("Okay, and how often should brake pads be changed normally?",
         ["mile", "kilomet", "year", "000", "every"]),
        ("Sorry, I didn't catch that. Can you say that again?",
         ["mile", "kilomet", "year", "000", "every"], "again"),
    ]},
    {"name": "guitar", "turns": [
        ("I'm thinking about learning to play the guitar.",
         ["guitar", "great", "learn", "start", "lesson", "chord"]),
        ("Is it hard to learn as an adult?",
         ["adult", "not", "practice", "age", "never", "learn", "can"]),
        ("How much should I practice every day?",
         ["minute", "hour", "day", "practice"]),
        ("Should I get an acoustic or an electric one?",
         ["acoustic", "electric"]),
        ("What songs are good for beginners?",
         ["song", "chord", "beginner", "wonderwall", "knockin", "horse", "stand by me",
          "happy birthday", "twinkle"]),
        ("Cool, I think I'll give it a go this weekend.",
         ["great", "luck", "fun", "enjoy", "weekend"]),
    ]},
]
# fmt: on

#: The settings compared (``LlamaLLM`` fields; the rest are its defaults). "before" is the
#: provider as it was before earlier replies were guarded; "after" its defaults now.
VARIANTS: dict[str, dict[str, Any]] = {
    "before": {"earlier_reply_penalty": 0.0, "earlier_reply_words": 0},
    "guard_only": {"earlier_reply_penalty": 0.0},
    "penalty_only": {"earlier_reply_words": 0},
    "after": {},
}


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def shared_run(a: list[str], b: list[str]) -> int:
    """The longest run of consecutive words that ``a`` and ``b`` share."""
    best, prev = 0, [0] * (len(b) + 1)
    for x in a:
        cur = [0] * (len(b) + 1)
        for j, y in enumerate(b, 1):
            if x == y:
                cur[j] = prev[j - 1] + 1
                best = max(best, cur[j])
        prev = cur
    return best


def bigram_overlap(reply: list[str], earlier: list[str]) -> float:
    """Share of the reply's distinct word pairs found in ``earlier`` (0 under 4 words)."""
    if len(reply) < 4:
        return 0.0
    mine = set(itertools.pairwise(reply))
    theirs = set(itertools.pairwise(earlier))
    return len(mine & theirs) / len(mine)


def repeat_of(reply: str, earlier: list[str]) -> dict[str, Any]:
    """How much ``reply`` repeats the most similar of the ``earlier`` replies."""
    mine = words(reply)
    run = max((shared_run(mine, words(e)) for e in earlier), default=0)
    overlap = max((bigram_overlap(mine, words(e)) for e in earlier), default=0.0)
    return {
        "longest_shared_run": run,
        "bigram_overlap": round(overlap, 3),
        "repeat": run >= RUN_WORDS or overlap >= OVERLAP,
    }


async def reply_in_context(service: Any, context: Any) -> str:
    """The service's reply to ``context`` (as ``offline_answers.text_reply`` gets one)."""
    from pipecat.frames.frames import LLMContextFrame, LLMTextFrame
    from pipecat.tests.utils import run_test

    down, _ = await run_test(service, frames_to_send=[LLMContextFrame(context)])
    return "".join(f.text for f in down if isinstance(f, LLMTextFrame)).strip()


def seed_for(seed: int, conv: int, turn: int) -> int:
    return seed * 1000 + conv * 10 + turn


async def run_conversations(llm: Any, seeds: list[int]) -> list[dict[str, Any]]:
    from loguru import logger
    from pipecat.processors.aggregators.llm_context import LLMContext

    from voicebot import Bot

    llama = llm.loaded().llama
    guard_notes: list[str] = []  # the service's debug line when ReplyGuard drops a rerun
    sink = logger.add(
        lambda m: guard_notes.append(m.record["message"]),
        level="DEBUG",
        filter=lambda r: "rerun(s) of an earlier reply" in r["message"],
    )
    rows: list[dict[str, Any]] = []
    for seed in seeds:
        for ci, conv in enumerate(CONVERSATIONS):
            context = LLMContext(messages=[])
            said: list[str] = []
            for ti, (line, topic, *flags) in enumerate(conv["turns"]):
                context.add_message({"role": "user", "content": line})
                service = llm.build(Bot().build_context({}))
                llama.set_seed(seed_for(seed, ci, ti))
                start = time.perf_counter()
                guard_notes.clear()
                reply = await reply_in_context(service, context)
                secs = time.perf_counter() - start
                dropped = sum(int(re.findall(r"(\d+) rerun", n)[0]) for n in guard_notes)
                again = "again" in flags
                rep = repeat_of(reply, said)
                rows.append(
                    {
                        "seed": seed,
                        "conversation": conv["name"],
                        "turn": ti + 1,
                        "caller": line,
                        "reply": reply,
                        "secs": round(secs, 3),
                        "asks_again": again,
                        "guard_dropped_reruns": dropped,
                        **rep,
                        "counted_repeat": rep["repeat"] and not again,
                        **checks(line, reply, topic),
                    }
                )
                mark = "REPEAT" if rep["repeat"] else "      "
                print(f"{mark} [{conv['name']} {ti + 1}] {line!r}\n         -> {reply!r}")
                if reply:  # what the bot said is what the call's context keeps
                    context.add_message({"role": "assistant", "content": reply})
                    said.append(reply)
    logger.remove(sink)
    return rows


async def run_answers(llm: Any) -> dict[str, Any]:
    """``offline_answers.py``'s held-out questions, one per fresh call, with its checks."""
    from voicebot import Bot
    from voicebot.bot import DEFAULT_SYSTEM_PROMPT

    llama = llm.loaded().llama
    prompts = json.loads((PROMPTS / "answers_heldout.json").read_text())["prompts"]
    rows = []
    for i, p in enumerate(prompts):
        service = llm.build(Bot().build_context({}))
        llama.set_seed(seed_for(0, 99, i))
        reply, _secs = await text_reply(service, DEFAULT_SYSTEM_PROMPT, p["text"])
        rows.append({"prompt": p["text"], "reply": reply, **checks(p["text"], reply, p["topic"])})
    keys = list(checks("", "", []))
    return {
        "rows": rows,
        **{k: sum(r[k] for r in rows) for k in keys},
        "all_ok": sum(all(r[k] for k in keys) for r in rows),
        "n": len(rows),
    }


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    counted = [r for r in rows if not r["asks_again"]]
    keys = list(checks("", "", []))
    by_turn: dict[int, int] = {}
    for r in counted:
        by_turn[r["turn"]] = by_turn.get(r["turn"], 0) + int(r["repeat"])
    again = [r for r in rows if r["asks_again"]]
    return {
        "replies": len(counted),
        "repeats": sum(r["repeat"] for r in counted),
        "run_ge_6": sum(r["longest_shared_run"] >= RUN_WORDS for r in counted),
        "overlap_ge_60": sum(r["bigram_overlap"] >= OVERLAP for r in counted),
        "near_verbatim_80": sum(r["bigram_overlap"] >= 0.8 for r in counted),
        "repeats_by_turn": by_turn,
        "empty": sum(not r["reply"] for r in rows),
        "guard_cut": sum(r["guard_dropped_reruns"] > 0 for r in rows),
        **{k: sum(r[k] for r in counted) for k in keys},
        "all_ok": sum(all(r[k] for k in keys) for r in counted),
        "asked_again": len(again),
        "asked_again_repeated": sum(r["repeat"] for r in again),
        "asked_again_on_topic": sum(r["on_topic"] for r in again),
    }


def file_facts(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return {"file": path.name, "sha256_prefix": digest.hexdigest()[:16]}


def llama_cpp_version() -> str:
    from importlib.metadata import version

    return version("llama-cpp-python")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", default="before", help=f"of {', '.join(VARIANTS)}")
    parser.add_argument("--profile", default="balanced")
    parser.add_argument("--seeds", default="1,2", help="sampling seeds, each a full pass")
    parser.add_argument("--answers", action="store_true", help="also the held-out questions")
    args = parser.parse_args()
    setup(cpu=-1)

    from voicebot.bot import DEFAULT_SYSTEM_PROMPT
    from voicebot.providers.local import LlamaLLM

    seeds = [int(s) for s in args.seeds.split(",")]
    path = RESULTS / "offline_repeats.json"
    previous = json.loads(path.read_text()).get("variants", {}) if path.is_file() else {}
    variants: dict[str, Any] = dict(previous)
    model: dict[str, Any] = {}
    for name in args.variants.split(","):
        if name not in VARIANTS:
            raise SystemExit(f"unknown variant {name!r}: one of {', '.join(VARIANTS)}")
        llm = LlamaLLM(profile=args.profile, **VARIANTS[name])
        llm.prepare()
        model = model or file_facts(llm.model_file())
        load_before = os.getloadavg()
        rows = await run_conversations(llm, seeds)
        answers = await run_answers(llm) if args.answers else None
        variants[name] = {
            "settings": llm.model_dump(mode="json"),
            "seeds": seeds,
            "load_avg_before": [round(x, 2) for x in load_before],
            "load_avg_after": [round(x, 2) for x in os.getloadavg()],
            "summary": summary(rows),
            "answers_heldout": answers,
            "rows": rows,
        }
    keys = [
        "replies",
        "repeats",
        "run_ge_6",
        "overlap_ge_60",
        "near_verbatim_80",
        "empty",
        "guard_cut",
        "on_topic",
        "all_ok",
        "asked_again_repeated",
    ]
    print(
        table(
            ["variant", *keys, "heldout all ok", "heldout on topic"],
            [
                [
                    name,
                    *[v["summary"][k] for k in keys],
                    "-"
                    if not v["answers_heldout"]
                    else f"{v['answers_heldout']['all_ok']}/{v['answers_heldout']['n']}",
                    "-"
                    if not v["answers_heldout"]
                    else f"{v['answers_heldout']['on_topic']}/{v['answers_heldout']['n']}",
                ]
                for name, v in variants.items()
            ],
            title=f"offline repeats: {len(CONVERSATIONS)} conversations x {len(seeds)} seeds, "
            f"repeat = shared run >= {RUN_WORDS} words or bigram overlap >= {OVERLAP:.0%}",
        )
    )
    out = save(
        "offline_repeats",
        {
            "config": {
                "command": "python benchmarks/offline_repeats.py " + " ".join(sys.argv[1:]),
                "profile": args.profile,
                "model": model,
                "system_prompt": DEFAULT_SYSTEM_PROMPT,
                "repeat_definition": f"shared run of >= {RUN_WORDS} consecutive words with one "
                f"earlier reply, or >= {OVERLAP:.0%} of the reply's distinct word bigrams in one "
                "earlier reply (replies of >= 4 words); lower-cased, punctuation dropped; "
                "turns where the caller asks to hear the answer again not counted",
                "seeding": "Llama.set_seed(seed*1000 + conversation*10 + turn) before each reply",
                "threads": "LlamaLLM.threads (generation); prompt on up to 4 (n_threads_batch)",
                "llama_cpp_python": llama_cpp_version(),
                "sampling_not_set_by_voicebot": "llama-cpp-python's create_chat_completion "
                "defaults: top_k 40, top_p 0.95, min_p 0.05; the rest is in each variant's "
                "settings (temperature, max_tokens, repeat_penalty, ...)",
                "conversations": CONVERSATIONS,
            },
            "variants": variants,
        },
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    asyncio.run(main())
