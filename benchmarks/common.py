"""What every benchmark shares: the two contenders, the simulated vendors, results, tables.

Each benchmark runs the same conversation twice over, in the same process and the same run:

- **ours**: a real ``voicebot.Bot`` turned into a ``Session`` (``bot.session(...).run()``),
  exactly as an application would, with everything voicebot adds (turn records, latency
  breakdown observers, metrics frames, hooks);
- **stock**: the same parts wired by hand from Pipecat classes, as a lean Pipecat app would
  be: ``Pipeline([input, stt, user aggregator, llm, tts, output, assistant aggregator])`` on
  a ``PipelineWorker(enable_rtvi=False, enable_turn_tracking=False)`` with no observers.

"The same parts" are the transport (voicebot's ``WavFileTransport``, which plays a WAV as
the caller in real time and records the bot on the caller's timeline), the VAD analyzer,
the turn strategy and the simulated vendors (``ScriptedSTTService``, ``ScriptedLLMService``,
``ToneTTSService``: Pipecat services whose only work is sleeping their fixed latency).
So any difference between the two is orchestration: what voicebot builds around the parts.

Absolute figures depend on the machine (a shared 2-core VM here); compare the ratios and
differences measured in the same run. The process pins itself to one CPU (``BENCH_CPU``,
default: the last one) so both contenders see the same core.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
SPEECH_WAV = REPO / "examples" / "audio" / "two_turns.wav"
IN_RATE, OUT_RATE = 16000, 24000


# ---- environment ------------------------------------------------------------------------


def setup(cpu: int | None = None) -> int | None:
    """Quiet logs and pin this process to one CPU; returns the CPU (None if not pinned)."""
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="ERROR")
    import warnings

    warnings.filterwarnings("ignore")
    if cpu is None:
        env = os.environ.get("BENCH_CPU")
        cpu = int(env) if env not in (None, "") else (os.cpu_count() or 1) - 1
    if cpu < 0 or not hasattr(os, "sched_setaffinity"):
        return None
    os.sched_setaffinity(0, {cpu})
    return cpu


def machine() -> dict[str, Any]:
    import pipecat

    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "cpus": os.cpu_count(),
        "pinned_to": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_avg_1_5_15": [round(x, 2) for x in load],
        "python": platform.python_version(),
        "pipecat": getattr(pipecat, "__version__", "?"),
        "processor": platform.processor() or platform.machine(),
    }


def save(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {
        "benchmark": name,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine(),
        **data,
    }
    path.write_text(json.dumps(payload, indent=2, default=float) + "\n")
    return path


def dist(values: Sequence[float]) -> dict[str, float | int | None]:
    """n, p50, p95, p99, max, mean of a sample (seconds in, seconds out)."""
    if not len(values):
        return {"n": 0, "p50": None, "p95": None, "p99": None, "max": None, "mean": None}
    a = np.asarray(values, dtype=float)
    return {
        "n": int(a.size),
        "p50": float(np.percentile(a, 50)),
        "p95": float(np.percentile(a, 95)),
        "p99": float(np.percentile(a, 99)),
        "max": float(a.max()),
        "mean": float(a.mean()),
    }


def ms(v: float | None, digits: int = 1) -> str:
    return "-" if v is None else f"{v * 1000:.{digits}f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> str:
    cells = [[str(h) for h in headers], *[[str(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [title] if title else []
    for n, row in enumerate(cells):
        lines.append(
            "  ".join(
                c.rjust(w) if i else c.ljust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


# ---- the parts --------------------------------------------------------------------------


@dataclass(frozen=True)
class Vendors:
    """Simulated vendors of fixed latency, and the turn-taking settings around them."""

    stt_secs: float = 0.1  # STT finalization after the VAD stop
    ttft_secs: float = 0.2  # LLM time to first token
    ttfb_secs: float = 0.1  # TTS time to first audio
    tokens_per_sec: float = 0.0  # 0: the whole reply at once (no sentence wait)
    secs_per_char: float = 0.02  # length of the bot's speech per character
    vad: str = "energy"  # "energy" (synthetic callers) or "silero" (real speech)
    vad_start_secs: float = 0.06
    vad_stop_secs: float = 0.2
    turn: str = "silence"  # "silence" or "smart-turn"
    silence_secs: float = 0.3
    speculate: bool = False  # ours only: the reply starts at the VAD's pause (turn_speculation)
    turn_early_secs: float | None = None  # ours only: SmartTurn(early_secs=...)

    def critical_path(self) -> float:
        """User quiet → first bot audio if the orchestration took no time at all: the VAD's
        stop wait, then the turn timeout (the STT finishes under it) or the STT, then the
        LLM's first token and the TTS's first audio."""
        turn = max(self.silence_secs, self.stt_secs) if self.turn == "silence" else self.stt_secs
        return self.vad_stop_secs + turn + self.ttft_secs + self.ttfb_secs


@dataclass
class Script:
    transcripts: list[str]
    replies: list[str]


def vad_analyzer(v: Vendors) -> Any:
    from pipecat.audio.vad.vad_analyzer import VADParams

    if v.vad == "silero":
        from pipecat.audio.vad.silero import SileroVADAnalyzer

        return SileroVADAnalyzer(
            params=VADParams(start_secs=v.vad_start_secs, stop_secs=v.vad_stop_secs)
        )
    from voicebot.providers.energy import EnergyVADAnalyzer

    return EnergyVADAnalyzer(
        params=VADParams(
            confidence=0.5, start_secs=v.vad_start_secs, stop_secs=v.vad_stop_secs, min_volume=0.0
        )
    )


def turn_strategies(v: Vendors) -> Any:
    from pipecat.turns.user_start import (
        TranscriptionUserTurnStartStrategy,
        VADUserTurnStartStrategy,
    )
    from pipecat.turns.user_stop import (
        SpeechTimeoutUserTurnStopStrategy,
        TurnAnalyzerUserTurnStopStrategy,
    )
    from pipecat.turns.user_turn_strategies import UserTurnStrategies

    if v.turn == "smart-turn":
        from pipecat.audio.turn.smart_turn.base_smart_turn import SmartTurnParams
        from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3

        stop: Any = TurnAnalyzerUserTurnStopStrategy(
            turn_analyzer=LocalSmartTurnAnalyzerV3(params=SmartTurnParams(stop_secs=3.0))
        )
    else:
        stop = SpeechTimeoutUserTurnStopStrategy(user_speech_timeout=v.silence_secs)
    return UserTurnStrategies(
        start=[VADUserTurnStartStrategy(), TranscriptionUserTurnStartStrategy()], stop=[stop]
    )


# ---- the contenders ---------------------------------------------------------------------


@dataclass
class Contender:
    """One built conversation, ready to run: ``run()`` plays it to the end."""

    name: str
    run: Callable[[], Any]
    transport: Any
    worker: Any
    session: Any = None  # voicebot's Session, for "ours"
    extra: dict[str, Any] = field(default_factory=dict)


def build_ours(
    v: Vendors,
    script: Script,
    caller: Path,
    output: Path | None,
    *,
    linger_secs: float = 0.8,
    processors: dict[str, list[Any]] | None = None,
) -> Contender:
    from voicebot import Bot, EnergyVAD, SilenceTurn, SileroVAD, SmartTurn, WavFile
    from voicebot.testing import FakeLLM, FakeSTT, FakeTTS

    vad: Any = (
        SileroVAD(start_secs=v.vad_start_secs, stop_secs=v.vad_stop_secs)
        if v.vad == "silero"
        else EnergyVAD(start_secs=v.vad_start_secs, stop_secs=v.vad_stop_secs)
    )
    turn: Any = (
        SmartTurn(speculate=v.speculate, early_secs=v.turn_early_secs)
        if v.turn == "smart-turn"
        else SilenceTurn(silence_secs=v.silence_secs, speculate=v.speculate)
    )
    bot = Bot(
        stt=FakeSTT(transcripts=script.transcripts, latency_secs=v.stt_secs),
        llm=FakeLLM(replies=script.replies, ttft_secs=v.ttft_secs, tokens_per_sec=v.tokens_per_sec),
        tts=FakeTTS(ttfb_secs=v.ttfb_secs, secs_per_char=v.secs_per_char),
        vad=vad,
        turn=turn,
        processors=processors or {},
        sample_rate_in=IN_RATE,
        sample_rate_out=OUT_RATE,
        idle_timeout_secs=None,
    )
    session = bot.session(
        transport=WavFile(input=caller, output=output, linger_secs=linger_secs), env={}
    )
    return Contender("ours", session.run, session.transport, session.worker, session)


def build_stock(
    v: Vendors,
    script: Script,
    caller: Path,
    output: Path | None,
    *,
    linger_secs: float = 0.8,
    processors: dict[str, list[Any]] | None = None,
    observers: list[Any] | None = None,
    enable_metrics: bool = False,
    output_chunk_secs: float = 0.04,
) -> Contender:
    """The same conversation as a hand-written Pipecat app."""
    from pipecat.frames.frames import EndFrame
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.pipeline.worker import PipelineParams, PipelineWorker
    from pipecat.processors.aggregators.llm_context import LLMContext
    from pipecat.processors.aggregators.llm_response_universal import (
        LLMContextAggregatorPair,
        LLMUserAggregatorParams,
    )
    from pipecat.workers.runner import WorkerRunner

    from voicebot.testing.fake_llm import ScriptedLLMService
    from voicebot.testing.fake_stt import ScriptedSTTService
    from voicebot.testing.fake_tts import ToneTTSService
    from voicebot.transports.wav import WavFileTransport

    transport = WavFileTransport(
        caller, output, linger_secs=linger_secs, output_chunk_secs=output_chunk_secs
    )
    stt = ScriptedSTTService(script.transcripts, latency_secs=v.stt_secs)
    llm = ScriptedLLMService(
        script.replies,
        ttft_secs=v.ttft_secs,
        tokens_per_sec=v.tokens_per_sec,
        system_instruction="You are a helpful voice assistant.",
    )
    tts = ToneTTSService(ttfb_secs=v.ttfb_secs, secs_per_char=v.secs_per_char)
    user, assistant = LLMContextAggregatorPair(
        LLMContext([]),
        user_params=LLMUserAggregatorParams(
            vad_analyzer=vad_analyzer(v), user_turn_strategies=turn_strategies(v)
        ),
    )
    extra = processors or {}
    pipeline = Pipeline(
        [
            transport.input(),
            *[p() for p in extra.get("after_input", [])],
            stt,
            user,
            llm,
            tts,
            transport.output(),
            assistant,
        ]
    )
    worker = PipelineWorker(
        pipeline,
        params=PipelineParams(
            audio_in_sample_rate=IN_RATE,
            audio_out_sample_rate=OUT_RATE,
            enable_metrics=enable_metrics,
        ),
        observers=observers or [],
        enable_rtvi=False,
        enable_turn_tracking=False,
        idle_timeout_secs=None,
    )

    @transport.event_handler("on_finished")
    async def finished(_transport: Any) -> None:
        await worker.queue_frame(EndFrame())

    async def run() -> None:
        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(worker)
        await runner.run()

    return Contender("stock", run, transport, worker, extra={"llm": llm})


BUILDERS = {"ours": build_ours, "stock": build_stock}


async def run_all(contenders: Sequence[Contender]) -> float:
    """Run conversations concurrently; return the wall seconds taken."""
    gc.collect()
    start = time.perf_counter()
    await asyncio.gather(*(c.run() for c in contenders))
    return time.perf_counter() - start


# ---- reading the audio ------------------------------------------------------------------


def read_samples(path: Path) -> tuple[np.ndarray, int]:
    from voicebot.audio.wav import read_wav

    pcm = read_wav(path)
    return pcm.samples, pcm.sample_rate


def first_sound_after(
    samples: np.ndarray, rate: int, t: float, until: float | None = None
) -> float | None:
    """Time of the first non-zero sample at or after ``t`` (sample-accurate: the bot's
    audio is exact zeros wherever it is silent)."""
    a = round(t * rate)
    b = len(samples) if until is None else min(len(samples), round(until * rate))
    nz = np.flatnonzero(samples[a:b])
    return None if nz.size == 0 else (a + int(nz[0])) / rate


def last_sound_before(samples: np.ndarray, rate: int, t: float, since: float) -> float | None:
    """Time just after the last non-zero sample in ``[since, t)``."""
    a, b = round(since * rate), min(len(samples), round(t * rate))
    nz = np.flatnonzero(samples[a:b])
    return None if nz.size == 0 else (a + int(nz[-1]) + 1) / rate


def as_dict(obj: Any) -> dict[str, Any]:
    return asdict(obj)


def word_errors(ref: Sequence[str], hyp: Sequence[str]) -> int:
    """Levenshtein distance over words (substitutions, deletions, insertions): WER's numerator."""
    d = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, d[0] = d[0], i
        for j, h in enumerate(hyp, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (r != h))
    return d[len(hyp)]
