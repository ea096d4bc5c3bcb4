"""Offline voice-to-voice latency: voicebot's default offline bot vs a stock Pipecat pipeline.

What is measured: a caller made of 10 real recorded utterances (Debian's
pocketsphinx-testdata: 5 LibriVox sentences, 5 spoken card names), each followed by a few
seconds of silence, is played in real time through:

- **ours**: ``voicebot.Bot()`` with no vendor arguments (Whisper tiny.en with trimmed-window
  decoding, SmolLM2-135M in-process through llama.cpp, Piper with clause-level streaming,
  Silero VAD, the bot's turn detection);
- **stock**: the same models as a Pipecat user would wire them by hand: ``WhisperSTTService``
  (model path, int8), ``OpenAILLMService`` against ``llama_cpp.server`` (1 thread),
  ``PiperTTSService``, Silero + Pipecat's default smart-turn, default ``PipelineWorker``.

Both use the same WAV transport, so latency is read the same way off the files: from the
end of each utterance in the caller's audio to the start of the bot's next audio. Also
reported: the per-stage breakdown (Pipecat's UserBotLatencyObserver), STT word error rate
against the reference transcripts, and false cut-offs (the bot starting to talk inside an
utterance).

Expectation, written before measuring: stock ≈ 1.3-1.9 s p50 (STT ~0.55 s padded Whisper,
smart-turn ~0.2 s or a 3 s fallback, LLM over HTTP, whole-sentence TTS). Ours should save
~0.5 s in STT, ~0.2-0.5 s from clause-level TTS, and the turn wait difference; target p50
≤ 0.5 s, expected ~0.7-0.9 s on this 2-core box.

    python benchmarks/offline_latency.py   # prints a table, writes results/offline_latency.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import word_errors  # noqa: E402
from voicebot import Bot, WavFile  # noqa: E402
from voicebot.audio import Pcm, read_wav, speech_segments, write_wav  # noqa: E402
from voicebot.metrics.stats import percentile  # noqa: E402
from voicebot.testing.runner import caller_latencies  # noqa: E402

DATA = Path("/usr/share/pocketsphinx/test/data")
RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Clip:
    path: Path
    text: str


def clips() -> list[Clip]:
    """The 10 recorded utterances and their reference transcripts."""
    out: list[Clip] = []
    for line in (DATA / "librivox" / "transcription").read_text().splitlines():
        m = re.match(r"<s> (.*) </s> \((.*)\)", line.strip())
        if m:
            out.append(Clip(DATA / "librivox" / f"{m.group(2)}.wav", m.group(1)))
    for line in (DATA / "cards" / "cards.transcription").read_text().splitlines():
        m = re.match(r"<s> (.*?)\s*</s> \((.*)\)", line.strip())
        if m:
            out.append(Clip(DATA / "cards" / f"{m.group(2)}.wav", m.group(1)))
    if len(out) < 10:
        raise SystemExit(
            "needs Debian's pocketsphinx-testdata: apt-get install pocketsphinx-testdata"
        )
    return out


def caller_wav(path: Path, items: list[Clip], gap_secs: float) -> list[tuple[float, float]]:
    """Concatenate clips with ``gap_secs`` of silence after each; returns (start, end)s."""
    rate = 16000
    parts, spans, t = [np.zeros(int(0.5 * rate), np.int16)], [], 0.5
    for clip in items:
        pcm = read_wav(clip.path, rate)
        parts.append(pcm.samples)
        spans.append((t, t + pcm.duration_secs))
        t += pcm.duration_secs
        parts.append(np.zeros(int(gap_secs * rate), np.int16))
        t += gap_secs
    write_wav(path, Pcm(np.concatenate(parts), rate))
    return spans


def normalize(text: str) -> list[str]:
    from num2words import num2words

    words = re.sub(r"[^a-z0-9' ]", " ", text.lower().replace("-", " ")).split()
    out: list[str] = []
    for w in words:
        out.extend(num2words(int(w)).replace("-", " ").split() if w.isdigit() else [w])
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LlamaServer:
    """``python -m llama_cpp.server`` on a free loopback port, for the stock pipeline."""

    def __init__(self, model: Path) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(model),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--n_threads",
                "1",
                "--n_ctx",
                "2048",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import urllib.request

        for _ in range(120):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/v1/models", timeout=1)
                return
            except Exception:
                time.sleep(0.5)
        self.proc.kill()
        raise SystemExit("llama_cpp.server did not start")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


async def run_stock(caller: Path, out: Path, server: LlamaServer, system_prompt: str) -> list[Any]:
    """The hand-written stock Pipecat pipeline (see the module docstring)."""
    from pipecat.audio.vad.silero import SileroVADAnalyzer
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.pipeline.worker import PipelineParams, PipelineWorker
    from pipecat.processors.aggregators.llm_context import LLMContext
    from pipecat.processors.aggregators.llm_response_universal import (
        LLMContextAggregatorPair,
        LLMUserAggregatorParams,
    )
    from pipecat.services.openai.llm import OpenAILLMService
    from pipecat.services.piper.tts import PiperTTSService
    from pipecat.services.whisper.stt import WhisperSTTService
    from pipecat.workers.runner import WorkerRunner

    from voicebot.metrics.turn_log import TurnLog
    from voicebot.providers.local.models import piper_voice_dir, whisper_model_dir
    from voicebot.transports.wav import WavFileTransport

    transport = WavFileTransport(caller, out, linger_secs=4.0)
    stt = WhisperSTTService(
        settings=WhisperSTTService.Settings(model=str(whisper_model_dir())),
        device="cpu",
        compute_type="int8",
    )
    llm = OpenAILLMService(
        api_key="none",
        base_url=f"http://127.0.0.1:{server.port}/v1",
        settings=OpenAILLMService.Settings(
            model="smollm2", system_instruction=system_prompt, max_completion_tokens=60
        ),
    )
    tts = PiperTTSService(
        download_dir=piper_voice_dir(), settings=PiperTTSService.Settings(voice="en_US-joe-medium")
    )
    context = LLMContext()
    user, assistant = LLMContextAggregatorPair(
        context, user_params=LLMUserAggregatorParams(vad_analyzer=SileroVADAnalyzer())
    )
    pipeline = Pipeline([transport.input(), stt, user, llm, tts, transport.output(), assistant])
    log = TurnLog()
    log.attach(user, assistant)
    worker = PipelineWorker(
        pipeline,
        params=PipelineParams(enable_metrics=True, audio_in_sample_rate=16000),
        observers=log.observers,
    )

    async def finished(_t: Any) -> None:
        from pipecat.frames.frames import EndFrame

        await worker.queue_frame(EndFrame())

    transport.add_event_handler("on_finished", finished)
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    await runner.run()
    return log.turns


async def run_ours(caller: Path, out: Path, bot: Bot) -> list[Any]:
    transport = WavFile(input=caller, output=out, linger_secs=4.0)
    await bot.prepare(transport=transport)
    session = bot.session(transport=transport)
    await session.run()
    return session.turns


def summarize(
    name: str, turns: list[Any], caller: Path, out: Path, refs: list[Clip]
) -> dict[str, Any]:
    spans = speech_segments(read_wav(caller), window_secs=0.005, min_gap_secs=1.5)
    bot = speech_segments(read_wav(out), window_secs=0.005, min_gap_secs=0.6)
    lat = [v for v in caller_latencies(spans, bot) if v is not None]
    cutoffs = sum(1 for b in bot for s in spans if s.start < b.start < s.end)
    heard = " ".join(t.user_text for t in turns if t.user_text)
    ref = " ".join(c.text for c in refs)
    errors = word_errors(normalize(ref), normalize(heard))
    stages: dict[str, list[float]] = {}
    for t in turns:
        for k, v in t.stages.items():
            stages.setdefault(k, []).append(v)
    return {
        "pipeline": name,
        "utterances": len(spans),
        "replies_measured": len(lat),
        "p50_secs": percentile(lat, 50),
        "p95_secs": percentile(lat, 95),
        "latencies_secs": [round(v, 3) for v in lat],
        "in_bot_latencies_secs": [
            round(t.voice_to_voice_secs, 3) for t in turns if t.voice_to_voice_secs is not None
        ],
        "user_turns": [t.user_text for t in turns if t.user_text],
        "bot_replies": [t.bot_text for t in turns if t.user_text],
        "false_cutoffs": cutoffs,
        "wer": errors / max(1, len(normalize(ref))),
        "stage_p50_secs": {k: percentile(v, 50) for k, v in stages.items()},
        "transcript": heard,
    }


def table(rows: list[dict[str, Any]]) -> str:
    def f(v: float | None) -> str:
        return "-" if v is None else f"{v * 1000:.0f} ms"

    lines = [f"{'pipeline':<8} {'p50':>8} {'p95':>8} {'replies':>8} {'cut-offs':>9} {'WER':>6}"]
    for r in rows:
        lines.append(
            f"{r['pipeline']:<8} {f(r['p50_secs']):>8} {f(r['p95_secs']):>8} "
            f"{r['replies_measured']:>4}/{r['utterances']:<3} {r['false_cutoffs']:>9} "
            f"{r['wer']:>6.1%}"
        )
    keys = sorted({k for r in rows for k in r["stage_p50_secs"]})
    lines.append("")
    lines.append(f"{'stage p50':<22}" + "".join(f"{r['pipeline']:>10}" for r in rows))
    for k in keys:
        lines.append(f"{k:<22}" + "".join(f"{f(r['stage_p50_secs'].get(k)):>10}" for r in rows))
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gap", type=float, default=7.0, help="silence after each utterance")
    parser.add_argument("--only", choices=["ours", "stock"], help="run one pipeline")
    parser.add_argument("--turn", default=None, help="our bot's turn provider (default: Bot's)")
    args = parser.parse_args()

    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    RESULTS.mkdir(parents=True, exist_ok=True)
    refs = clips()
    work = RESULTS / "offline_latency"
    work.mkdir(exist_ok=True)
    caller = work / "caller.wav"
    caller_wav(caller, refs, args.gap)
    bot = Bot(turn=args.turn) if args.turn else Bot()
    rows = []
    if args.only in (None, "ours"):
        out = work / "ours.wav"
        rows.append(summarize("ours", await run_ours(caller, out, bot), caller, out, refs))
    if args.only in (None, "stock"):
        from voicebot.providers.local.models import smollm2_gguf

        server = LlamaServer(smollm2_gguf())
        try:
            out = work / "stock.wav"
            turns = await run_stock(caller, out, server, bot.system_prompt)
            rows.append(summarize("stock", turns, caller, out, refs))
        finally:
            server.close()
    print(table(rows))
    result: dict[str, Any] = {"rows": rows, "target_p50_secs": 0.5}
    if len(rows) == 2 and rows[0]["p50_secs"] and rows[1]["p50_secs"]:
        result["p50_ratio_ours_over_stock"] = rows[0]["p50_secs"] / rows[1]["p50_secs"]
        print(f"\nours/stock p50 ratio: {result['p50_ratio_ours_over_stock']:.2f}")
    if rows and rows[0]["pipeline"] == "ours" and rows[0]["p50_secs"] is not None:
        print(f"ours vs the 500 ms target: {(rows[0]['p50_secs'] - 0.5) * 1000:+.0f} ms at p50")
    (RESULTS / "offline_latency.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
