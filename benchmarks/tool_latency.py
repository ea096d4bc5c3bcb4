"""Tool latency: does acknowledging a slow background tool add dead air, and how soon is
its result spoken once it is done?

One session per variant, each with a synthetic caller (energy VAD, silence turn detection,
so every utterance is heard exactly where it is placed) who alternates plain questions
(the model answers directly) with requests that call a 3-second tool. The fake STT, LLM and
TTS sleep vendor-like delays (STT 0.15 s, LLM first token 0.3 s, TTS first audio 0.15 s).
Latencies are read off the audio files, as a caller would hear them:

- **plain**: end of the caller's question -> first bot audio, on plain turns;
- **first audio**: end of the caller's request -> first bot audio, on tool turns;
- **result -> speech**: the tool returning -> the start of the bot audio that reports it.

Variants:

- ``background+ack``: ``@tool(policy="background", ack="I'm booking that now.")`` - voicebot
  says the ack when the call starts; the result is spoken when the bot and caller are quiet.
- ``background, model ack``: ``@tool(policy="background")`` - the model is run over
  Pipecat's "still running" placeholder and says something itself.
- ``blocking, no filler``: ``@tool(filler=None)`` - what Pipecat does by itself for any
  call with a cascade LLM (async or not): silence until the result is in.

    python benchmarks/tool_latency.py   # prints a table, writes results/tool_latency.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from voicebot import Bot, EnergyVAD, SilenceTurn, WavFile, tool  # noqa: E402
from voicebot.audio import read_wav, speech_segments  # noqa: E402
from voicebot.testing import FakeLLM, FakeSTT, FakeTTS, ToolCall, write_caller_wav  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
TOOL_SECS = 3.0
STT_SECS, TTFT_SECS, TTFB_SECS = 0.15, 0.3, 0.15
#: A tool turn adding less than this to the first audio is "no dead air" (the files are read
#: to 5 ms, the event loop of a shared VM jitters by a few ms more).
DEAD_AIR_TOLERANCE_SECS = 0.05

PLAIN_REPLY = "We open at nine."
DONE_REPLY = "All booked."


@dataclass
class Variant:
    name: str
    options: dict[str, Any]
    model_acks: bool  # the model speaks before the result (an extra scripted reply)


VARIANTS = [
    Variant("background+ack", {"policy": "background", "ack": "I'm booking that now."}, False),
    Variant("background, model ack", {"policy": "background"}, True),
    Variant("blocking, no filler", {"filler": None}, False),
]


@dataclass
class Result:
    variant: str
    plain_secs: list[float]
    first_audio_secs: list[float]
    result_to_speech_secs: list[float]
    tool_secs: float

    def p50(self, values: list[float]) -> float | None:
        return statistics.median(values) if values else None

    def summary(self) -> dict[str, Any]:
        plain, first = self.p50(self.plain_secs), self.p50(self.first_audio_secs)
        added = None if plain is None or first is None else first - plain
        return {
            "variant": self.variant,
            "plain_p50_secs": plain,
            "first_audio_p50_secs": first,
            "added_p50_secs": added,
            "result_to_speech_p50_secs": self.p50(self.result_to_speech_secs),
            "adds_dead_air": None if added is None else added > DEAD_AIR_TOLERANCE_SECS,
        }


def caller_script(pairs: int) -> tuple[list[tuple[float, float]], list[bool], float]:
    """Utterances (start, duration) and whether each is a tool turn: plain, tool, plain..."""
    utterances, is_tool, t = [], [], 0.5
    for _ in range(pairs):
        utterances.append((t, 0.6))
        is_tool.append(False)
        t += 0.6 + 3.0
        utterances.append((t, 0.6))
        is_tool.append(True)
        t += 0.6 + TOOL_SECS + 4.0  # the tool, then its result spoken, then a pause
    return utterances, is_tool, t + 0.5


async def run_variant(variant: Variant, pairs: int, workdir: Path) -> Result:
    utterances, is_tool, total = caller_script(pairs)
    caller = write_caller_wav(workdir / "caller.wav", utterances, total_secs=total)
    output = workdir / f"{variant.name.replace(' ', '_').replace(',', '')}.wav"
    finished_at: list[float] = []  # caller-timeline seconds when each tool call returned
    timeline: list[Any] = []

    async def book(name: str) -> dict:
        await asyncio.sleep(TOOL_SECS)
        finished_at.append(timeline[0].now())
        return {"booked": True, "name": name}

    book_tool = tool(name="book", description="Book an appointment.", **variant.options)(book)
    replies: list[Any] = []
    for tool_turn in is_tool:
        if not tool_turn:
            replies.append(PLAIN_REPLY)
            continue
        replies.append(ToolCall("book", {"name": "Ada"}))
        if variant.model_acks:
            replies.append("Booking it now.")
        replies.append(DONE_REPLY)
    bot = Bot(
        stt=FakeSTT(transcripts=["..." for _ in utterances], latency_secs=STT_SECS),
        llm=FakeLLM(replies=replies, ttft_secs=TTFT_SECS),
        tts=FakeTTS(ttfb_secs=TTFB_SECS, secs_per_char=0.05),
        vad=EnergyVAD(stop_secs=0.2),
        turn=SilenceTurn(silence_secs=0.4),
        tools=[book_tool],
    )
    session = bot.session(transport=WavFile(input=caller, output=output, linger_secs=1.0), env={})
    timeline.append(session.transport.timeline)
    await session.run()

    heard = speech_segments(read_wav(caller), window_secs=0.005)
    bot_audio = speech_segments(read_wav(output), window_secs=0.005, min_gap_secs=0.1)
    assert len(heard) == len(utterances), f"expected {len(utterances)} utterances"
    plain, first = [], []
    for i, (segment, tool_turn) in enumerate(zip(heard, is_tool, strict=True)):
        next_start = heard[i + 1].start if i + 1 < len(heard) else float("inf")
        reply = next((b.start for b in bot_audio if segment.end <= b.start < next_start), None)
        if reply is not None:
            (first if tool_turn else plain).append(reply - segment.end)
    result_to_speech = []
    for done in finished_at:
        spoken = next((b.start for b in bot_audio if b.start >= done), None)
        if spoken is not None:
            result_to_speech.append(spoken - done)
    return Result(variant.name, plain, first, result_to_speech, TOOL_SECS)


def table(results: list[Result]) -> str:
    def secs(v: float | None) -> str:
        return "-" if v is None else f"{v:.3f}s"

    head = (
        f"{'variant':<24}{'plain p50':>11}{'first audio p50':>17}{'added':>9}"
        f"{'result->speech p50':>20}  dead air?"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        s = r.summary()
        added = s["added_p50_secs"]
        verdict = "-" if added is None else ("YES" if s["adds_dead_air"] else "no")
        lines.append(
            f"{r.variant:<24}{secs(s['plain_p50_secs']):>11}{secs(s['first_audio_p50_secs']):>17}"
            f"{'-' if added is None else f'{added:+.3f}s':>9}"
            f"{secs(s['result_to_speech_p50_secs']):>20}  {verdict}"
        )
    return "\n".join(lines)


async def main_async(pairs: int) -> list[Result]:
    results = []
    with tempfile.TemporaryDirectory(prefix="voicebot-tool-latency-") as tmp:
        for variant in VARIANTS:
            workdir = Path(tmp) / f"v{len(results)}"
            workdir.mkdir()
            print(f"running {variant.name} ({pairs} plain + {pairs} tool turns)...", flush=True)
            results.append(await run_variant(variant, pairs, workdir))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=3, help="plain+tool turn pairs per variant")
    args = parser.parse_args()
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="ERROR")
    started = time.time()
    results = asyncio.run(main_async(args.pairs))
    print()
    print(table(results))
    ack = results[0].summary()
    verdict = (
        "does NOT add dead air"
        if ack["adds_dead_air"] is False
        else "ADDS dead air"
        if ack["adds_dead_air"]
        else "could not be measured"
    )
    print(
        f"\nThe ack of a {TOOL_SECS:g}-second background tool {verdict}: it is heard "
        f"{ack['added_p50_secs']:+.3f}s (p50) after a plain answer would be "
        f"(tolerance {DEAD_AIR_TOLERANCE_SECS:.2f}s); without one the caller waits "
        f"{results[-1].summary()['first_audio_p50_secs']:.3f}s."
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "tool_latency.json"
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    out.write_text(
        json.dumps(
            {
                "benchmark": "tool_latency",
                "when": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
                "machine": {
                    "cpus": os.cpu_count(),
                    "load_avg_1_5_15": load,
                    "python": platform.python_version(),
                },
                "setup": {
                    "tool_secs": TOOL_SECS,
                    "stt_secs": STT_SECS,
                    "llm_ttft_secs": TTFT_SECS,
                    "tts_ttfb_secs": TTFB_SECS,
                    "pairs_per_variant": args.pairs,
                    "dead_air_tolerance_secs": DEAD_AIR_TOLERANCE_SECS,
                },
                "summary": [r.summary() for r in results],
                "runs": [asdict(r) for r in results],
            },
            indent=2,
        )
        + "\n"
    )
    print(f"results: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
