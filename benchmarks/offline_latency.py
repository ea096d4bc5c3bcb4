"""Offline voice-to-voice latency: voicebot's default bot, the same with speculation, stock Pipecat.

What is measured: a caller made of 10 real recorded utterances (Debian's
pocketsphinx-testdata: 5 LibriVox sentences, 5 spoken card names), each followed by
``--gap`` seconds of silence, is played in real time through each contender in turn
(``--contenders``, default ``ours,ours-speculative,stock``; each one's models are loaded
before its clock starts):

- **ours**: ``voicebot.Bot()`` with no arguments (``--turn`` swaps the turn provider):
  Whisper base with trimmed-window decoding, Qwen2.5-Coder-0.5B (``LlamaLLM`` profile
  "balanced") in-process through llama.cpp, Piper en_US-joe-medium with clause-level
  streaming, Silero VAD, ``SmartTurn``;
- **ours-speculative**: the same bot, its turn provider copied with ``speculate=True``: the
  LLM starts on the words so far at the VAD's pause and its reply is held until smart-turn
  confirms the turn (``voicebot/providers/turn_speculation.py``);
- **ours-turn-early** (only when listed): ours with ``SmartTurn(early_secs=0.064)``, the
  model asked 64 ms into the pause (on 2026-12-03 that was briefly the default, and the
  contender was ``ours-turn-at-stop``: ``early_secs=None``; results ``s13_offline_early_ab*``);
- **ours-no-text-check** (only when listed): ours with ``SmartTurn(text_check=None)``: no
  words check where smart-turn says "not yet" (the default before 2026-12-04, session 20);
- **ours-no-bot-context** (only when listed): ours with ``WhisperSTT(bot_context=False)``:
  Whisper hears the caller with no prompt, not after the bot's last heard words (the
  default before 2026-12-05, session 22);
- **stock**: the same model files wired by hand as a Pipecat user would: ``WhisperSTTService``
  (Whisper base's folder, int8, Pipecat's own decoding), ``OpenAILLMService`` against
  ``llama_cpp.server`` loading the GGUF the "balanced" profile loads (1 generation thread),
  ``PiperTTSService`` (same voice), Silero + Pipecat's default smart-turn, ``PipelineWorker``.

All use the same WAV transport, so latency is read the same way off the files: from the end
of each utterance in the caller's audio to the start of the bot's next audio. Also reported:
the per-stage p50 (Pipecat's UserBotLatencyObserver, via voicebot's TurnLog), STT word error
rate against the reference transcripts, false cut-offs (the bot starting to talk inside an
utterance), CPU seconds used while each contender ran (this process, plus the LLM server for
stock), and for the speculative contender the sums of ``TurnRecord.speculation`` (every
withdrawn speculation is an extra LLM request). The results JSON records each contender's
configuration (models, threads, VAD and turn parameters), the machine, the load average
before and after each contender, the pipecat version and the clips.

Expected, before measuring (written before the first run of this version, 2026-12-02): ours ≈
1.2-1.8 s p50 at load ~1 (VAD 0.2 s + Whisper base 0.2-0.3 s + smart-turn, which runs beside
Whisper, ~0-0.1 s beyond it + Qwen's first token 0.2-0.5 s + first clause 0.1-0.2 s + Piper's
first audio 0.2-0.4 s + 0.1-0.2 s of quiet sentence ends the files show); p95 and max ≈
3.5-4.5 s if smart-turn calls any clip "incomplete" (the short card names are likely) and its
3 s fallback ends the turn (since written, commit f8aaa65 made ``SmartTurn``'s fallback 2 s:
read 2.5-3.5 s; stock keeps Pipecat's 3 s). Speculation starts when Whisper's transcript
arrives, so it saves only the turn decision's wait beyond the STT: nothing on turns where
smart-turn said "complete" before Whisper finished (most of them: p50 within ±0.1 s of ours,
noise included), tens of ms where smart-turn's call outlasts Whisper, and the LLM's first
token plus first clause (~0.3-0.7 s) on fallback turns, whose TTS still starts only at the
fallback: p95 and max 0.3-0.7 s lower when a fallback occurs. It costs CPU on 2 cores: the LLM
evaluates its prompt on both cores while smart-turn (and, after a mid-sentence pause, Whisper
on the next piece) still run, so transcription and the turn decision may slow by 10-50 ms;
about one speculation per pause with new words (10-14 started), 1-4 withdrawn at pauses inside
the long LibriVox sentences, each an extra request. Stock ≈ 3-5 s p50: Pipecat's Whisper pads
to 30 s and beams 5 wide (1.5-3 s for base on this CPU), HTTP to the LLM, whole-sentence TTS;
some replies may be missing, as before (7/10).

Expected for two later changes (written 2026-12-03 before their runs): Whisper started 64
ms into the pause (``WhisperSTT.early_secs``) takes the transcription stage from ~0.15-0.17
s to ~0.05-0.09 s at p50; the "balanced" model re-encoded as Q8_0 takes ~40 % off the
prompt's evaluation (~0.1 s of the LLM stage); ours' caller-side p50 ~0.15-0.2 s lower.

Expected for an experiment (written 2026-12-03, session 12, before its A/B runs, which
used commit 843b654's ``--contenders ours,ours-no-prefill``): the LLM's prompt prefilled on
Whisper's early transcript takes 0-60 ms off the LLM stage, adds 20-30 ms to the turn
decision (smart-turn shares the two cores with it), caller p50 within +-50 ms. Measured
neutral at p50 and dropped: docs/offline.md, "Tried and dropped".

Measured, and how it compares: docs/offline.md, "Current figures".

    python benchmarks/offline_latency.py                    # all 10 clips, 7 s apart
    python benchmarks/offline_latency.py --limit 2 --gap 4  # a quick smoke run

Needs Debian's ``pocketsphinx-testdata``; stock also needs ``llama_cpp.server``'s web parts
(the error names them).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import machine, word_errors  # noqa: E402
from benchmarks.serve_host import cpu_model, cpu_secs, git_commit  # noqa: E402
from voicebot import Bot, WavFile  # noqa: E402
from voicebot.audio import Pcm, read_wav, speech_segments, write_wav  # noqa: E402
from voicebot.metrics.stats import percentile  # noqa: E402
from voicebot.testing.runner import caller_latencies, run_warnings  # noqa: E402

DATA = Path("/usr/share/pocketsphinx/test/data")
RESULTS = Path(__file__).resolve().parent / "results"
#: ``ours-turn-early``: ours with smart-turn asked 64 ms into the pause
#: (``SmartTurn(early_secs=0.064)``; docs/offline.md, "The turn decision at the pause").
#: ``ours-no-text-check``: ours with ``SmartTurn(text_check=None)``, smart-turn's "not yet"
#: waiting for its fallback as before 2026-12-04 (docs/offline.md, "The words' opinion on
#: the turn's end").
#: ``ours-no-bot-context``: ours with ``WhisperSTT(bot_context=False)``: Whisper hears the
#: caller with no prompt (before 2026-12-05, session 22; docs/offline.md, "The bot's words
#: as Whisper's previous text").
CONTENDERS = (
    "ours",
    "ours-speculative",
    "stock",
    "ours-turn-early",
    "ours-no-text-check",
    "ours-no-bot-context",
)
#: Readable names of the packaged LLM profiles' models, for the row labels.
PROFILE_MODELS = {
    "fast": "SmolLM2-135M",
    "balanced": "Qwen2.5-Coder-0.5B",
    "quality": "Qwen2.5-Coder-1.5B",
}


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

    N_THREADS = 1
    N_CTX = 2048

    #: What ``llama-cpp-python[server]`` adds; ``make`` installs the library without them.
    NEEDS = ("fastapi", "uvicorn", "pydantic_settings", "sse_starlette", "starlette_context")

    def __init__(self, model: Path, log: Path, system_prompt: str) -> None:
        missing = [m for m in self.NEEDS if importlib.util.find_spec(m) is None]
        if missing:
            raise SystemExit(
                f"stock needs llama_cpp.server, which needs {', '.join(missing)}: pip install "
                'fastapi uvicorn pydantic-settings sse-starlette "starlette-context<0.4"'
            )
        from llama_cpp.server.settings import ModelSettings

        self.model = model
        self.port = free_port()
        #: Not passed, so the server's default: every core.
        self.n_threads_batch = ModelSettings.model_fields["n_threads_batch"].default
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "llama_cpp.server", "--model", str(model)),
                *("--host", "127.0.0.1", "--port", str(self.port)),
                *("--n_threads", str(self.N_THREADS), "--n_ctx", str(self.N_CTX)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=log.open("wb"),
        )
        for _ in range(240):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/v1/models", timeout=1)
                self.warm_up(system_prompt)
                return
            except Exception:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.5)
        self.close()
        raise SystemExit(f"llama_cpp.server did not start with {model}; see {log}")

    def warm_up(self, system_prompt: str) -> None:
        """One token after the system prompt, as ``warm_system_prompt`` does for ours."""
        body = {"messages": warm_up_messages(system_prompt), "max_tokens": 1}
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/v1/chat/completions",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=120).read()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def warm_up_messages(system_prompt: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": system_prompt}, {"role": "user", "content": "Hi"}]


def warm_system_prompt(bot: Bot) -> None:
    """Every contender starts with the weights paged in and the system prompt's KV cached,
    as a process that has served a call would (llama.cpp reuses a prompt's cached prefix):
    the same state whatever ran before, so the order of the contenders does not matter."""
    from voicebot.providers.local.llama import LlamaLLM

    if isinstance(bot.llm, LlamaLLM) and bot.llm.base_url is None:
        model = bot.llm.loaded()
        # On the model's own thread, as every evaluation (``LoadedLlama.evaluate``).
        model.evaluate(
            lambda: model.llama.create_chat_completion(
                warm_up_messages(bot.system_prompt),  # type: ignore[arg-type]
                max_tokens=1,
            )
        )


@dataclass
class Contender:
    """One pipeline, built with its models loaded; ``run`` plays the caller through it."""

    name: str
    label: str
    config: dict[str, Any]
    run: Callable[[], Awaitable[list[Any]]]
    transport: Callable[[], Any]  # the WavFileTransport, once built
    close: Callable[[], None] = lambda: None
    child_pid: int | None = None  # a helper process whose CPU time counts too


def llm_name(bot: Bot) -> str:
    profile = getattr(bot.llm, "profile", None)
    if getattr(bot.llm, "model_path", None) is None and profile in PROFILE_MODELS:
        return PROFILE_MODELS[profile]
    return Path(str(getattr(bot.llm, "model_path", None) or type(bot.llm).__name__)).stem


def ours_config(bot: Bot) -> dict[str, Any]:
    """What ``bot`` runs, as the results record it (read after ``bot.prepare()``)."""
    from voicebot.providers.local.llama import LlamaLLM
    from voicebot.providers.local.piper import DEFAULT_VOICE, PiperTTS
    from voicebot.providers.local.whisper import DECODE_OPTIONS, WhisperSTT

    stt, llm, tts, turn = bot.stt, bot.llm, bot.tts, bot.turn
    config: dict[str, Any] = {
        "stt": {"provider": repr(stt)},
        "llm": {"provider": repr(llm)},
        "tts": {"provider": repr(tts)},
        "vad": {"class": type(bot.vad).__name__, **bot.vad.model_dump()},
        "turn": {
            "class": type(turn).__name__,
            **turn.model_dump(),
            "pipecat_stop_strategies": [
                type(s).__name__ + (f"({type(s.inner).__name__})" if hasattr(s, "inner") else "")
                for s in turn.strategies(bot.build_context()).stop or []
            ],
        },
    }
    if isinstance(stt, WhisperSTT):
        config["stt"].update(
            model=f"Whisper {stt.label}",
            model_dir=str(stt.resolved_model_dir()),
            cpu_threads=stt.threads,
            early_secs=stt.early_secs,
            decoding=f"voicebot trimmed window, {DECODE_OPTIONS}",
        )
    if isinstance(llm, LlamaLLM) and llm.base_url is None:
        llama = llm.loaded().llama
        config["llm"].update(
            model_file=llm.model_file().name,
            profile=None if llm.model_path else llm.profile,
            n_threads=llama.n_threads,
            n_threads_batch=llama.n_threads_batch,
            n_ctx=llm.n_ctx,
            temperature=llm.temperature,
            max_tokens=llm.max_tokens,
            max_words=llm.max_words,
            system_prompt_kv="cached before the clock",
        )
    if isinstance(tts, PiperTTS):
        config["tts"].update(voice=(tts.model.stem if tts.model else DEFAULT_VOICE))
        config["tts"].update(onnx_threads=tts.threads, text="clause-level streaming")
    return config


async def build_ours(name: str, bot: Bot, caller: Path, out: Path, what: str) -> Contender:
    """``bot`` on the WAV caller; ``what`` heads its label ("voicebot offline default")."""
    transport = WavFile(input=caller, output=out, linger_secs=4.0)
    await bot.prepare(transport=transport)
    session = bot.session(transport=transport)  # analyzers built here, before the clock
    warm_system_prompt(bot)
    config = ours_config(bot)

    async def run() -> list[Any]:
        await session.run()
        early = getattr(session.stt, "early", None)  # transcriptions started at pauses
        if early is not None:
            config["stt"]["early_transcripts"] = early.to_dict()
        return session.turns

    label = f"{what} ({type(bot.turn).__name__}, {llm_name(bot)})"
    if bot.turn.speculate:
        label += " + speculate"
    return Contender(name, label, config, run, lambda: session.transport)


async def build_stock(name: str, bot: Bot, caller: Path, out: Path) -> Contender:
    """The hand-written stock Pipecat pipeline on the models of ``bot`` (see the docstring)."""
    from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3
    from pipecat.audio.vad.silero import SileroVADAnalyzer
    from pipecat.frames.frames import EndFrame
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
    from pipecat.turns.user_stop import TurnAnalyzerUserTurnStopStrategy
    from pipecat.turns.user_turn_strategies import UserTurnStrategies
    from pipecat.workers.runner import WorkerRunner

    from voicebot.metrics.turn_log import TurnLog
    from voicebot.providers.local.llama import LlamaLLM
    from voicebot.providers.local.models import QWEN_05B, piper_voice_dir
    from voicebot.providers.local.piper import DEFAULT_VOICE
    from voicebot.providers.local.whisper import WhisperSTT
    from voicebot.transports.wav import WavFileTransport

    if not isinstance(bot.llm, LlamaLLM) or not isinstance(bot.stt, WhisperSTT):
        raise SystemExit("stock runs ours' models: needs the default LlamaLLM and WhisperSTT")
    whisper_dir = bot.stt.resolved_model_dir()  # Pipecat's WhisperModel loads a folder
    voice = getattr(bot.tts, "model", None) or piper_voice_dir() / f"{DEFAULT_VOICE}.onnx"
    # The GGUF as the packages ship it (their parts joined), as a Pipecat user would load it;
    # ours loads the "balanced" profile's Q8_0 re-encoding of the same model (gguf_requant).
    shipped = (
        QWEN_05B.path() if bot.llm.model_path is None and bot.llm.profile == "balanced" else None
    )
    log_file = Path(tempfile.gettempdir()) / "offline_latency_llama_server.log"
    server = LlamaServer(shipped or bot.llm.model_file(), log_file, bot.system_prompt)
    transport = WavFileTransport(caller, out, linger_secs=4.0)
    stt = WhisperSTTService(
        settings=WhisperSTTService.Settings(model=str(whisper_dir)),
        device="cpu",
        compute_type="int8",
    )
    temperature, max_tokens = bot.llm.temperature, bot.llm.max_tokens  # as ours samples
    llm = OpenAILLMService(
        api_key="none",
        base_url=f"http://127.0.0.1:{server.port}/v1",
        settings=OpenAILLMService.Settings(
            model=server.model.stem,
            system_instruction=bot.system_prompt,
            temperature=temperature,
            max_tokens=max_tokens,
        ),
    )
    tts = PiperTTSService(
        download_dir=voice.parent, settings=PiperTTSService.Settings(voice=voice.stem)
    )
    vad = SileroVADAnalyzer()
    turn_analyzer = LocalSmartTurnAnalyzerV3()  # Pipecat's default stop strategy, made visible
    user, assistant = LLMContextAggregatorPair(
        LLMContext(),
        user_params=LLMUserAggregatorParams(
            vad_analyzer=vad,
            user_turn_strategies=UserTurnStrategies(
                stop=[TurnAnalyzerUserTurnStopStrategy(turn_analyzer=turn_analyzer)]
            ),
        ),
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
        await worker.queue_frame(EndFrame())

    transport.add_event_handler("on_finished", finished)

    async def run() -> list[Any]:
        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(worker)
        await runner.run()
        return log.turns

    config = {
        "stt": {
            "provider": "pipecat WhisperSTTService",
            "model": f"Whisper {bot.stt.label}",
            "model_dir": str(whisper_dir),
            "cpu_threads": "faster-whisper default (cpu_threads=0: CTranslate2's own)",
            "decoding": "faster-whisper transcribe() defaults: 30 s window, beam_size 5",
        },
        "llm": {
            "provider": "pipecat OpenAILLMService -> llama_cpp.server (HTTP, loopback)",
            "model_file": server.model.name,
            "profile": None if bot.llm.model_path else bot.llm.profile,
            "n_threads": server.N_THREADS,
            "n_threads_batch": server.n_threads_batch,
            "n_ctx": server.N_CTX,
            "system_prompt_kv": "cached before the clock",
            "temperature": temperature,
            "max_tokens": max_tokens,
        },
        "tts": {
            "provider": "pipecat PiperTTSService",
            "voice": voice.stem,
            "onnx_threads": "onnxruntime default",
            "text": "Pipecat's default: whole sentences",
        },
        "vad": {"class": type(vad).__name__, **vad.params.model_dump()},
        "turn": {
            "class": "TurnAnalyzerUserTurnStopStrategy(LocalSmartTurnAnalyzerV3)",
            **turn_analyzer.params.model_dump(),
            "speculate": False,
        },
    }
    label = f"stock Pipecat, same models (Whisper {bot.stt.label}, {llm_name(bot)}, Piper)"
    return Contender(
        name, label, config, run, lambda: transport, server.close, child_pid=server.proc.pid
    )


def speculation_sums(turns: list[Any]) -> dict[str, int] | None:
    """The turns' ``TurnRecord.speculation`` summed; None if no turn speculated."""
    counts = [t.speculation for t in turns if getattr(t, "speculation", None) is not None]
    if not counts:
        return None
    sums = {k: sum(c.get(k, 0) for c in counts) for k in ("started", "confirmed", "withdrawn")}
    return {**sums, "extra_llm_requests": sums["withdrawn"]}


def summarize(turns: list[Any], caller: Path, out: Path, refs: list[Clip]) -> dict[str, Any]:
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
        "asked": len(refs),
        "utterances_in_audio": len(spans),
        "replies_measured": len(lat),
        "p50_secs": percentile(lat, 50),
        "p95_secs": percentile(lat, 95),
        "max_secs": max(lat) if lat else None,
        "latencies_secs": [round(v, 3) for v in lat],
        "in_bot_latencies_secs": [
            round(t.voice_to_voice_secs, 3) for t in turns if t.voice_to_voice_secs is not None
        ],
        "user_turns": [t.user_text for t in turns if t.user_text],
        "bot_replies": [t.bot_text for t in turns if t.user_text],
        "false_cutoffs": cutoffs,
        "wer": errors / max(1, len(normalize(ref))),
        "stage_p50_secs": {k: percentile(v, 50) for k, v in stages.items()},
        "speculation": speculation_sums(turns),
        "turns": [
            {
                "user_text": t.user_text,
                "said_text": t.said_text,
                "voice_to_voice_secs": t.voice_to_voice_secs,
                "stages_secs": {k: round(v, 3) for k, v in t.stages.items()},
                "speculation": getattr(t, "speculation", None),
            }
            for t in turns
            if t.user_text
        ],
        "transcript": heard,
    }


STAGE_NAMES = {
    "endpointing_wait": "VAD stop wait",
    "transcription": "transcription",
    "turn_detection": "turn decision",
    "llm_inference": "LLM to first token",
    "sentence_aggregation": "first clause/sentence ready",
    "speech_synthesis": "TTS first audio",
    "output_transport": "output transport",
}


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as the markdown tables docs/offline.md carries."""

    def f(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f} s"

    def spec(r: dict[str, Any]) -> str:
        s = r["speculation"]
        return "-" if s is None else f"{s['started']}/{s['confirmed']}/{s['withdrawn']}"

    lines = [
        "| contender | p50 | p95 | max | replies | false cut-offs | STT WER "
        "| speculations started/confirmed/withdrawn | CPU s | load before→after |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        load = f"{r['load_avg_before'][0]:.2f}→{r['load_avg_after'][0]:.2f}"
        lines.append(
            f"| {r['label']} | {f(r['p50_secs'])} | {f(r['p95_secs'])} | {f(r['max_secs'])} "
            f"| {r['replies_measured']}/{r['asked']} | {r['false_cutoffs']} | {r['wer']:.1%} "
            f"| {spec(r)} | {r['cpu_secs']:.0f} | {load} |"
        )
    keys = [k for k in STAGE_NAMES if any(k in r["stage_p50_secs"] for r in rows)]
    keys += sorted({k for r in rows for k in r["stage_p50_secs"]} - set(keys))
    lines += ["", "| stage p50 | " + " | ".join(r["pipeline"] for r in rows) + " |"]
    lines.append("|---" * (len(rows) + 1) + "|")
    for k in keys:
        cells = [r["stage_p50_secs"].get(k) for r in rows]
        ms = ["-" if v is None else f"{v * 1000:.0f} ms" for v in cells]
        lines.append(f"| {STAGE_NAMES.get(k, k)} | " + " | ".join(ms) + " |")
    return "\n".join(lines)


def contender_names(value: str) -> list[str]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in CONTENDERS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown contender {', '.join(unknown) or '(none)'}; choose from {CONTENDERS}"
        )
    return names


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gap", type=float, default=7.0, help="silence after each utterance")
    parser.add_argument(
        "--contenders",
        type=contender_names,
        default=list(CONTENDERS[:3]),
        help=f"comma list of {','.join(CONTENDERS)}, run in this order (default: the first 3)",
    )
    parser.add_argument("--turn", default=None, help="our bot's turn provider (default: Bot's)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N clips")
    parser.add_argument("--name", default="offline_latency", help="results/<name>.json")
    args = parser.parse_args()
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")

    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    refs = clips()[: args.limit]
    work = RESULTS / args.name
    work.mkdir(parents=True, exist_ok=True)
    caller = work / "caller.wav"
    caller_wav(caller, refs, args.gap)
    bot = Bot(turn=args.turn) if args.turn else Bot()
    what = (
        "voicebot offline default" if args.turn is None else f"voicebot offline, --turn {args.turn}"
    )
    speculative = Bot(turn=bot.turn.model_copy(update={"speculate": True}))
    has_early = "early_secs" in type(bot.turn).model_fields
    if "ours-turn-early" in args.contenders and not has_early:
        parser.error(f"ours-turn-early needs a SmartTurn, not --turn {args.turn}")
    early = Bot(turn=bot.turn.model_copy(update={"early_secs": 0.064})) if has_early else bot
    no_text = Bot(turn=bot.turn.model_copy(update={"text_check": None})) if has_early else bot
    no_context = bot.replace(stt=bot.stt.model_copy(update={"bot_context": False}))
    builders = {
        "ours": lambda out: build_ours("ours", bot, caller, out, what),
        "ours-speculative": lambda out: build_ours(
            "ours-speculative", speculative, caller, out, what
        ),
        "stock": lambda out: build_stock("stock", bot, caller, out),
        "ours-turn-early": lambda out: build_ours(
            "ours-turn-early", early, caller, out, what + ", smart-turn asked at the pause"
        ),
        "ours-no-text-check": lambda out: build_ours(
            "ours-no-text-check", no_text, caller, out, what + ", no words check"
        ),
        "ours-no-bot-context": lambda out: build_ours(
            "ours-no-bot-context", no_context, caller, out, what + ", no bot context for Whisper"
        ),
    }
    command = " ".join(["python benchmarks/offline_latency.py", *sys.argv[1:]])
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    rows = []
    for name in args.contenders:
        out = work / f"{name}.wav"
        contender = await builders[name](out)
        load_before = os.getloadavg()
        cpu_before = time.process_time() + (cpu_secs(contender.child_pid) or 0.0)
        try:
            turns = await contender.run()
            cpu = time.process_time() + (cpu_secs(contender.child_pid) or 0.0) - cpu_before
        finally:
            contender.close()
        row = {"pipeline": name, "label": contender.label}
        row |= summarize(turns, caller, out, refs)
        transport = contender.transport()
        row |= {
            "cpu_secs": cpu,
            "load_avg_before": [round(x, 2) for x in load_before],
            "load_avg_after": [round(x, 2) for x in os.getloadavg()],
            "lag_secs": transport.lag_secs,
            "warnings": run_warnings(transport, 1.0, heard_caller=True),
            "config": contender.config,
        }
        rows.append(row)
        print(f"{name}: p50 {row['p50_secs']}, {row['replies_measured']}/{len(refs)}", flush=True)
    print(f"\n{command}  ({started})\n")
    print(table(rows))
    result: dict[str, Any] = {
        "command": command,
        "started": started,
        "machine": {**machine(), "cpu_model": cpu_model()},
        "git": git_commit(),
        "gap_secs": args.gap,
        "clips": [{"file": str(c.path), "text": c.text} for c in refs],
        "target_p50_secs": 0.5,
        "rows": rows,
    }
    by_name = {r["pipeline"]: r for r in rows}
    if by_name.get("ours", {}).get("p50_secs") and by_name.get("stock", {}).get("p50_secs"):
        result["p50_ratio_ours_over_stock"] = (
            by_name["ours"]["p50_secs"] / by_name["stock"]["p50_secs"]
        )
        print(f"\nours/stock p50 ratio: {result['p50_ratio_ours_over_stock']:.2f}")
    path = RESULTS / f"{args.name}.json"
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    asyncio.run(main())
