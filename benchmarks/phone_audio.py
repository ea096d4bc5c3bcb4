"""Phone audio into the offline STT: Whisper's word error rate on real 8 kHz telephone speech,
through the path a phone call takes, and what band-limiting to 8 kHz costs on the same speech.

Each utterance goes the way ``LocalWhisperSTTService.run_stt`` takes it on a phone line: 16-bit
PCM at 8 kHz, resampled to 16 kHz by Pipecat's file resampler (the very call the service
makes), then ``WhisperTranscriber.transcribe``. A transcript is kept unless the service's
no-speech rule drops it (``LocalWhisperSTTService.is_no_speech``: Whisper's own rule,
``no_speech_prob`` above the threshold and ``avg_logprob`` below -1); the rule the service had
before (``no_speech_prob`` alone) is scored beside it ("old").

Sets (real recordings only; the clip lists are fixed by rule before anything is measured):

- ``telephone``: Debian's ``asterisk-core-sounds-en-wav`` (Allison Smith, CC-BY-SA-3.0), 8 kHz
  studio prompts. The top-level prompts whose transcript in ``core-sounds-en.txt`` has no
  bracket (tones), at least 4 words after normalising, and whose file is at most 15 s, sorted
  by name; then every Nth of them, N = eligible // 40, first 40. Three conditions:
  ``pcm`` (the file as is), ``ulaw`` (through G.711 mu-law and back, Pipecat's own
  ``pcm_to_ulaw``/``ulaw_to_pcm`` as the Twilio/Telnyx/Plivo serializers use them) and
  ``segment`` (the speech cut as the VAD cuts it in a call: 0.6 s of silence before the
  onset, 0.2 s after the end; 0.49-0.68 s was measured in front of VAD-cut segments of these
  prompts in a pipeline run, tests/local/test_phone_line.py).
- ``librivox+cards``: Debian's ``pocketsphinx-testdata``, 10 clips recorded at 16 kHz: ``16k``
  as recorded, ``8k`` the same audio band-limited (soxr to 8 kHz, then the service's path).

    apt-get install -y pocketsphinx-testdata asterisk-core-sounds-en-wav
    python benchmarks/phone_audio.py          # table; writes results/phone_audio.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import word_errors  # noqa: E402
from benchmarks.offline_stt import (  # noqa: E402
    ASTERISK_TEXT,
    MAX_SECS,
    SPHINX,
    Clip,
    normalize,
    sphinx_clips,
    telephone_clips,
)
from voicebot.audio import read_wav  # noqa: E402
from voicebot.providers.base import BuildContext  # noqa: E402
from voicebot.providers.local.whisper import DECODE_OPTIONS, SAMPLE_RATE, WhisperSTT  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
MODELS = ("base", "tiny.en")
PHONE_RATE = 8000
TARGET_CLIPS = 40
MIN_WORDS = 4
TAIL_SECS = 1.0  # what LocalWhisperSTTService passes
PRE_ROLL_SECS, POST_ROLL_SECS = 0.6, 0.2


def chosen_telephone_clips() -> tuple[list[Clip], int, int]:
    """The fixed list (see the module docstring), the eligible count and the step N."""
    eligible = [
        c
        for c in sorted(telephone_clips(), key=lambda c: c.name)
        if len(normalize(c.text)) >= MIN_WORDS and read_wav(c.path).duration_secs <= MAX_SECS
    ]
    step = max(1, len(eligible) // TARGET_CLIPS)
    return eligible[::step][:TARGET_CLIPS], len(eligible), step


def speech_bounds(pcm: np.ndarray, rate: int) -> tuple[int, int]:
    """First and last sample of 10 ms windows above -40 dBFS (the recording's own silence
    is below it)."""
    win = rate // 100
    frames = pcm[: len(pcm) // win * win].astype(np.float32).reshape(-1, win) / 32768
    loud = np.nonzero(np.sqrt((frames**2).mean(axis=1)) > 0.01)[0]
    if not len(loud):
        return 0, len(pcm)
    return int(loud[0] * win), int((loud[-1] + 1) * win)


def as_segment(pcm: np.ndarray, rate: int) -> np.ndarray:
    start, end = speech_bounds(pcm, rate)
    pre = np.zeros(int(PRE_ROLL_SECS * rate), np.int16)
    post = np.zeros(int(POST_ROLL_SECS * rate), np.int16)
    return np.concatenate([pre, pcm[start:end], post])


async def conditions(clip: Clip) -> dict[str, bytes]:
    """The clip's 8 kHz (or 16 kHz) PCM under each condition of its set."""
    from pipecat.audio.utils import create_file_resampler, pcm_to_ulaw, ulaw_to_pcm

    resampler = create_file_resampler()
    pcm = read_wav(clip.path)
    samples = pcm.samples.astype(np.int16)
    if clip.set == "telephone":
        assert pcm.sample_rate == PHONE_RATE, clip.path
        raw = samples.tobytes()
        ulaw = await pcm_to_ulaw(raw, PHONE_RATE, PHONE_RATE, resampler)
        return {
            "pcm": raw,
            "ulaw": await ulaw_to_pcm(ulaw, PHONE_RATE, PHONE_RATE, resampler),
            "segment": as_segment(samples, PHONE_RATE).tobytes(),
        }
    assert pcm.sample_rate == SAMPLE_RATE, clip.path
    raw = samples.tobytes()
    return {"16k": raw, "8k": await resampler.resample(raw, SAMPLE_RATE, PHONE_RATE)}


async def to_whisper(audio: bytes, rate: int) -> np.ndarray:
    """What ``LocalWhisperSTTService.run_stt`` hands the transcriber."""
    from pipecat.audio.utils import create_file_resampler

    if rate != SAMPLE_RATE:
        audio = await create_file_resampler().resample(audio, rate, SAMPLE_RATE)
    return np.frombuffer(audio, dtype=np.int16).astype(np.float32) / 32768.0


def summarize(rows: list[dict[str, Any]], key: str) -> dict[str, Any]:
    ref = sum(r["ref_words"] for r in rows)
    errors = sum(r[key]["errors"] for r in rows)
    old = sum(r[key]["errors_old_rule"] for r in rows)
    ms = [r[key]["ms"] for r in rows]
    return {
        "utterances": len(rows),
        "ref_words": ref,
        "wer": errors / ref,
        "dropped_as_no_speech": sum(r[key]["dropped"] for r in rows),
        "wer_old_drop_rule": old / ref,
        "dropped_old_rule": sum(r[key]["dropped_old_rule"] for r in rows),
        "exact_utterances": sum(r[key]["errors"] == 0 for r in rows),
        "ms_p50": float(np.percentile(ms, 50)),
        "ms_p90": float(np.percentile(ms, 90)),
    }


async def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=WhisperSTT().threads)
    ap.add_argument("--models", default=",".join(MODELS))
    args = ap.parse_args()
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    if not (SPHINX / "librivox").is_dir() or not ASTERISK_TEXT.is_file():
        raise SystemExit(
            "needs Debian's data: apt-get install -y pocketsphinx-testdata "
            "asterisk-core-sounds-en-wav"
        )
    models = tuple(args.models.split(","))
    phone, eligible, step = chosen_telephone_clips()
    clips = phone + sphinx_clips()
    stts = {m: WhisperSTT(model=m, threads=args.threads) for m in models}
    transcribers = {m: s.transcriber() for m, s in stts.items()}
    threshold = stts[models[0]].no_speech_threshold
    service = stts[models[0]].build(BuildContext(audio_in_sample_rate=PHONE_RATE))
    load_start = os.getloadavg()

    rows: list[dict[str, Any]] = []
    for clip in clips:
        ref = normalize(clip.text)
        audio = await conditions(clip)
        for condition, pcm in audio.items():
            rate = SAMPLE_RATE if condition == "16k" else PHONE_RATE
            samples = await to_whisper(pcm, rate)
            row: dict[str, Any] = {
                "set": clip.set,
                "clip": clip.name,
                "condition": condition,
                "secs": round(len(samples) / SAMPLE_RATE, 3),
                "ref": clip.text,
                "ref_words": len(ref),
            }
            for model in models:
                start = time.perf_counter()
                result = transcribers[model].transcribe(samples, tail_secs=TAIL_SECS)
                ms = (time.perf_counter() - start) * 1000
                heard = normalize(result.text)
                dropped = not result.text or service.is_no_speech(result)
                old_drop = not result.text or result.no_speech_prob > threshold
                row[model] = {
                    "hyp": result.text,
                    "errors": word_errors(ref, [] if dropped else heard),
                    "errors_old_rule": word_errors(ref, [] if old_drop else heard),
                    "dropped": dropped,
                    "dropped_old_rule": old_drop,
                    "no_speech_prob": round(result.no_speech_prob, 3),
                    "avg_logprob": round(result.avg_logprob, 3),
                    "ms": round(ms, 1),
                }
            rows.append(row)

    summary: dict[str, Any] = {}
    print(
        f"{'set':15} {'condition':8} {'model':8} {'utts':>4} {'words':>5} {'WER':>7} "
        f"{'dropped':>7} {'old WER':>7} {'old drop':>8} {'p50 ms':>6}"
    )
    for set_name, condition in dict.fromkeys((r["set"], r["condition"]) for r in rows):
        part = [r for r in rows if r["set"] == set_name and r["condition"] == condition]
        for model in models:
            s = summarize(part, model)
            summary[f"{set_name}/{condition}/{model}"] = s
            print(
                f"{set_name:15} {condition:8} {model:8} {s['utterances']:4d} {s['ref_words']:5d} "
                f"{100 * s['wer']:6.2f}% {s['dropped_as_no_speech']:7d} "
                f"{100 * s['wer_old_drop_rule']:6.2f}% {s['dropped_old_rule']:8d} "
                f"{s['ms_p50']:6.0f}"
            )
    print("old: dropped on no_speech_prob alone, as the service did before")

    import ctranslate2
    import faster_whisper

    out = {
        "what": "Whisper on 8 kHz phone audio, through LocalWhisperSTTService's resampling",
        "command": "python benchmarks/phone_audio.py"
        + (f" --models {args.models}" if args.models != ",".join(MODELS) else ""),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "config": {
            "models": {m: str(stts[m].resolved_model_dir()) for m in models},
            "decode": {**DECODE_OPTIONS, "tail_secs": TAIL_SECS},
            "no_speech_threshold": threshold,
            "log_prob_threshold": stts[models[0]].log_prob_threshold,
            "threads": args.threads,
            "telephone_rule": (
                f"top-level prompts, no brackets, >= {MIN_WORDS} normalised words, "
                f"<= {MAX_SECS:g} s, sorted by name, every {step}th of {eligible}, first "
                f"{TARGET_CLIPS}"
            ),
            "segment": {"pre_roll_secs": PRE_ROLL_SECS, "post_roll_secs": POST_ROLL_SECS},
            "resampling": "pipecat create_file_resampler (soxr VHQ) 8 kHz -> 16 kHz",
            "mu_law": "pipecat.audio.utils pcm_to_ulaw / ulaw_to_pcm at 8 kHz",
            "tuned_on_these_sets": "no",
        },
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "ctranslate2": ctranslate2.__version__,
            "faster_whisper": faster_whisper.__version__,
            "load_avg_start_1_5_15": [round(x, 2) for x in load_start],
            "load_avg_end_1_5_15": [round(x, 2) for x in os.getloadavg()],
        },
        "summary": summary,
        "utterances": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "phone_audio.json"
    path.write_text(json.dumps(out, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    asyncio.run(main())
