"""Does the offline bot answer well? Held-out prompts through the offline LLM profiles.

Two modes, both through the product's own code path (``LlamaLLM(profile=...)``'s Pipecat
service: chat template, tool notes, sampling, ``ReplyGuard``):

- text (default): each prompt goes to the LLM service as the caller's words; fast.
- ``--spoken``: each prompt is spoken by the Piper voice into a caller WAV and run through
  the whole offline bot (Silero, smart-turn, Whisper, LLM, Piper) with ``run_conversation``;
  the reply is what the bot said, the latency read off the two audio files.

Each reply is checked automatically: on topic (one of the prompt's expected words), English
(letters are ASCII), no echo (it does not open with the caller's first five words), no loop (no
repeated 4-word run), not "sorry for your loss" unless grief was mentioned, length. The
replies are printed so a person can judge them too.

Sets (``benchmarks/prompts/``): ``heldout`` was written before any tuning and never edited;
``dev`` is what the prompt and sampling were tuned on.

    python benchmarks/offline_answers.py --set heldout --profiles fast,balanced
    python benchmarks/offline_answers.py --set heldout --profiles balanced --spoken
    python benchmarks/offline_answers.py --set heldout --tool-answers   # replies from tool results
    python benchmarks/offline_answers.py --set heldout --speed --profiles fast,balanced,quality

``balanced-shipped`` is the "balanced" model as its packages ship it (Q4_K_M) rather than the
Q8_0 re-encoding the profile loads (``voicebot/providers/local/gguf_requant.py``): list both
to compare them in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
import time
import wave
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import dist, save, setup, table  # noqa: E402


def llm_for(profile: str) -> Any:
    """``LlamaLLM`` for a profile name, or for "balanced-shipped" (see the docstring)."""
    from voicebot.providers.local.llama import LlamaLLM
    from voicebot.providers.local.models import QWEN_05B

    if profile == "balanced-shipped":
        return LlamaLLM(model_path=QWEN_05B.path())
    return LlamaLLM(profile=profile)  # type: ignore[arg-type]


PROMPTS = ROOT / "benchmarks" / "prompts"


def checks(request: str, reply: str, topic: list[str]) -> dict[str, bool]:
    words = re.findall(r"[a-z0-9']+", reply.lower())
    asked = re.findall(r"[a-z0-9']+", request.lower())
    grams = [tuple(words[i : i + 4]) for i in range(len(words) - 3)]
    n = min(5, len(asked))
    echo = n >= 3 and words[:n] == asked[:n]  # opens with the caller's own opening words
    low = reply.lower()
    letters = [c for c in reply if c.isalpha()]
    return {
        "answered": bool(words),
        "on_topic": any(t in low for t in topic),
        "english": bool(letters) and sum(c.isascii() for c in letters) / len(letters) > 0.95,
        "no_echo": not echo,
        "no_loop": len(grams) == len(set(grams)),
        "no_condolence": "sorry for your loss" not in low or "lost" in request.lower(),
        "short": len(words) <= 60,
    }


async def tool_answer(
    service: Any, case: dict[str, Any], history: Sequence[dict[str, Any]] = ()
) -> tuple[str, float]:
    """The reply to ``case['text']`` after its tool call returned ``case['result']``;
    ``history``: messages before the question (a greeting)."""
    from pipecat.frames.frames import LLMContextFrame, LLMTextFrame
    from pipecat.processors.aggregators.llm_context import LLMContext
    from pipecat.tests.utils import run_test

    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": case["tool"], "arguments": json.dumps(case["args"])},
    }
    context = LLMContext(
        messages=[
            *history,
            {"role": "user", "content": case["text"]},
            {"role": "assistant", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": json.dumps(case["result"])},
        ]
    )
    start = time.perf_counter()
    down, _ = await run_test(service, frames_to_send=[LLMContextFrame(context)])
    secs = time.perf_counter() - start
    return "".join(f.text for f in down if isinstance(f, LLMTextFrame)).strip(), secs


def tool_checks(reply: str, expect: list[str]) -> dict[str, bool]:
    low = reply.lower()
    return {
        "answered": bool(low.strip()),
        "has_the_fact": any(e in low for e in expect),
        "no_tool_talk": not re.search(r"\b(tool|function|lookup|looked up)\b", low),
    }


async def text_reply(service: Any, system: str, request: str) -> tuple[str, float]:
    from pipecat.frames.frames import LLMContextFrame, LLMTextFrame
    from pipecat.processors.aggregators.llm_context import LLMContext
    from pipecat.tests.utils import run_test

    del system  # the service carries the system prompt
    context = LLMContext(messages=[{"role": "user", "content": request}])
    start = time.perf_counter()
    down, _ = await run_test(service, frames_to_send=[LLMContextFrame(context)])
    secs = time.perf_counter() - start
    return "".join(f.text for f in down if isinstance(f, LLMTextFrame)).strip(), secs


def speak(text: str, path: Path) -> Path:
    """The caller: ``text`` in the Piper voice, 0.5 s of silence before, 6 s after."""
    import numpy as np

    from voicebot.providers.local import PiperTTS

    voice = PiperTTS().voice()
    audio = b"".join(c.audio_int16_bytes for c in voice.synthesize(text))
    rate = voice.config.sample_rate
    pcm = np.frombuffer(audio, dtype=np.int16)
    # to 16 kHz, the bot's input rate
    n = int(len(pcm) * 16000 / rate)
    pcm16 = np.interp(np.linspace(0, len(pcm) - 1, n), np.arange(len(pcm)), pcm).astype(np.int16)
    pad = np.zeros(8000, dtype=np.int16)
    tail = np.zeros(16000 * 6, dtype=np.int16)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(np.concatenate([pad, pcm16, tail]).tobytes())
    return path


async def spoken_reply(bot: Any, request: str, tmp: Path) -> tuple[str, str, float | None]:
    from voicebot.testing import run_conversation

    caller = speak(request, tmp / "caller.wav")
    conv = await run_conversation(bot, caller, tmp / "bot.wav", linger_secs=2.0)
    heard = " ".join(t for who, t in conv.transcript if who == "user")
    said = " ".join(t for who, t in conv.transcript if who == "bot")
    v2v = [t.voice_to_voice_secs for t in conv.turns if t.voice_to_voice_secs is not None]
    return heard, said, (v2v[0] if v2v else None)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", default="heldout", help="heldout or dev")
    parser.add_argument("--profiles", default="fast,balanced")
    parser.add_argument("--spoken", action="store_true", help="through the whole bot")
    parser.add_argument(
        "--tool-answers", action="store_true", help="answers from tool results instead"
    )
    parser.add_argument(
        "--speed", action="store_true", help="first token and tokens/s of each profile instead"
    )
    args = parser.parse_args()
    setup(cpu=-1)
    if args.tool_answers:
        await main_tool_answers(args)
        return
    if args.speed:
        main_speed(args)
        return

    from voicebot import Bot
    from voicebot.bot import DEFAULT_SYSTEM_PROMPT
    from voicebot.providers.local import LlamaLLM

    prompts = json.loads((PROMPTS / f"answers_{args.set}.json").read_text())["prompts"]
    results: dict[str, Any] = {}
    for profile in args.profiles.split(","):
        llm = llm_for(profile)
        llm.prepare()
        rows: list[dict[str, Any]] = []
        for p in prompts:
            if args.spoken:
                bot = Bot(llm=llm)
                await bot.prepare()
                with tempfile.TemporaryDirectory() as d:
                    heard, reply, secs = await spoken_reply(bot, p["text"], Path(d))
            else:
                service = llm.build(Bot().build_context({}))
                reply, secs = await text_reply(service, DEFAULT_SYSTEM_PROMPT, p["text"])
                heard = p["text"]
            c = checks(heard, reply, p["topic"])
            rows.append({"prompt": p["text"], "heard": heard, "reply": reply, "secs": secs, **c})
            mark = "ok " if all(c.values()) else "-- "
            print(f"{mark}[{profile}] {p['text']!r}\n      heard {heard!r}\n      -> {reply!r}")
        results[profile] = {
            "model": llm.model_file().name,
            "rows": rows,
            "secs": dist([r["secs"] for r in rows if r["secs"] is not None]),
            **{k: sum(r[k] for r in rows) for k in checks("", "", [])},
        }
    keys = list(checks("", "", []))
    mode = "spoken (whole bot)" if args.spoken else "text"
    print(
        table(
            ["profile", "model", *keys, "all ok", "p50 s"],
            [
                [
                    prof,
                    r["model"],
                    *[f"{r[k]}/{len(r['rows'])}" for k in keys],
                    f"{sum(all(x[k] for k in keys) for x in r['rows'])}/{len(r['rows'])}",
                    f"{r['secs']['p50']:.2f}" if r["secs"]["p50"] is not None else "-",
                ]
                for prof, r in results.items()
            ],
            title=f"offline answers, {args.set} set, {mode}",
        )
    )
    name = f"offline_answers_{args.set}{'_spoken' if args.spoken else ''}"
    path = save(
        name,
        {
            "config": {
                "set": args.set,
                "mode": "spoken" if args.spoken else "text",
                "profiles": args.profiles.split(","),
                "system_prompt": DEFAULT_SYSTEM_PROMPT,
                "llm": {k: v for k, v in LlamaLLM().model_dump().items() if k != "profile"},
                "turn": "SmartTurn (default)" if args.spoken else None,
                "secs_measures": "voice-to-voice from the audio files"
                if args.spoken
                else "whole reply through the service",
            },
            "results": results,
        },
    )
    print(f"wrote {path}")


async def main_tool_answers(args: argparse.Namespace) -> None:
    from voicebot import Bot

    cases = json.loads((PROMPTS / f"tool_answers_{args.set}.json").read_text())["cases"]
    results: dict[str, Any] = {}
    keys = list(tool_checks("", []))
    for profile in args.profiles.split(","):
        llm = llm_for(profile)
        llm.prepare()
        rows = []
        for case in cases:
            service = llm.build(Bot().build_context({}))
            reply, secs = await tool_answer(service, case)
            c = tool_checks(reply, case["expect"])
            rows.append(
                {"question": case["text"], "result": case["result"], "reply": reply, "secs": secs}
                | c
            )
            mark = "ok " if all(c.values()) else "-- "
            print(f"{mark}[{profile}] {case['text']!r} ({case['result']}) -> {reply!r}")
        results[profile] = {"model": llm.model_file().name, "rows": rows}
    print(
        table(
            ["profile", "model", *keys, "all ok"],
            [
                [
                    prof,
                    r["model"],
                    *[f"{sum(x[k] for x in r['rows'])}/{len(r['rows'])}" for k in keys],
                    f"{sum(all(x[k] for k in keys) for x in r['rows'])}/{len(r['rows'])}",
                ]
                for prof, r in results.items()
            ],
            title=f"offline answers from tool results, {args.set} set",
        )
    )
    path = save(
        f"offline_tool_answers_{args.set}",
        {"config": {"set": args.set, "profiles": args.profiles.split(",")}, "results": results},
    )
    print(f"wrote {path}")


def main_speed(args: argparse.Namespace) -> None:
    """Time to first token and generation rate per profile, on the loaded model directly
    (the service's own settings; the system prompt's KV is reused after the first prompt,
    as in a call)."""
    import os

    from voicebot.bot import DEFAULT_SYSTEM_PROMPT

    prompts = [
        p["text"] for p in json.loads((PROMPTS / f"answers_{args.set}.json").read_text())["prompts"]
    ]
    results: dict[str, Any] = {}
    for profile in args.profiles.split(","):
        provider = llm_for(profile)
        model = provider.loaded()
        firsts: list[float] = []
        rates: list[float] = []
        for text in prompts:
            messages = [
                {"role": "system", "content": DEFAULT_SYSTEM_PROMPT},
                {"role": "user", "content": text},
            ]
            start = time.perf_counter()
            first: float | None = None
            n = 0
            for chunk in model.llama.create_chat_completion(
                messages,
                stream=True,
                max_tokens=provider.max_tokens,
                temperature=provider.temperature,
                repeat_penalty=provider.repeat_penalty,
                stop=["\n\n"],
            ):
                if chunk["choices"][0]["delta"].get("content"):
                    first = first if first is not None else time.perf_counter() - start
                    n += 1
            total = time.perf_counter() - start
            if first is not None:
                firsts.append(first)
                if n > 1:
                    rates.append((n - 1) / (total - first))
        results[profile] = {
            "model": model.path.name,
            "first_token": dist(firsts),
            "tokens_per_sec_p50": sorted(rates)[len(rates) // 2] if rates else None,
            "load_avg_after": os.getloadavg(),
        }
    print(
        table(
            ["profile", "model", "first token p50", "p95", "tokens/s p50"],
            [
                [
                    prof,
                    r["model"],
                    f"{r['first_token']['p50'] * 1000:.0f} ms",
                    f"{r['first_token']['p95'] * 1000:.0f} ms",
                    f"{r['tokens_per_sec_p50']:.0f}",
                ]
                for prof, r in results.items()
            ],
            title=f"offline LLM speed, {args.set} prompts, threads=1 (prompt on up to 4)",
        )
    )
    path = save(
        "offline_llm_speed",
        {"config": {"set": args.set, "profiles": args.profiles.split(",")}, "results": results},
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    asyncio.run(main())
