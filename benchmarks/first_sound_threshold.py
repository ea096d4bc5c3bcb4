"""The first sound's score threshold (``BargeIn.first_sound_confidence``, issue #14 item 4):
per recorded prompt, the time from the onset to the first 32 ms chunk Silero scores at or
over each threshold and that is at least as loud as the VAD's ``min_volume`` stands for
(``OnsetWatch``'s rule); and, on sounds that are not speech, how many chunks pass it.

The prompts are the design set of ``benchmarks/onset_lag.py`` (40 Asterisk prompts,
``random.sample`` seed 1, peak 0.3, after 1 s of line noise RMS 30 and with it under them);
the onset is the first 5 ms window over 2 % of the peak. Non-speech: line noise at RMS 30 and
300 (5 s), Asterisk's beeps and two-tone jingles, a click and a cough shaped as
``bench_backchannel``'s. Silero alone, no pipeline, no clock. Session 16 chose 0.5 from this.

    .venv/bin/python -m benchmarks.first_sound_threshold [--seed 1] [--peak 0.3]

Writes benchmarks/results/first_sound_threshold.json.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import dist, ms, save, setup, table

RATE = 16000
SOUNDS = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)
NOISE_RMS = 30 / 32768


def scored(sig: np.ndarray) -> tuple[list[tuple[float, float, float]], float]:
    """(chunk end secs, Silero score, RMS dB) per chunk, and the loudness floor in dB."""
    from pipecat.audio.vad.vad_analyzer import VADParams

    from voicebot.conversation.pauses import level_db
    from voicebot.providers.onnx_sessions import silero_analyzer

    vad = silero_analyzer(VADParams())
    vad.set_sample_rate(RATE)
    n = vad.num_frames_required() * 2
    pcm = (np.clip(sig, -1, 1) * 32767).astype(np.int16).tobytes()
    out = []
    for i in range(0, len(pcm) - n, n):
        chunk = pcm[i : i + n]
        score = float(np.asarray(vad.voice_confidence(chunk)).ravel()[0])
        out.append(((i + n) / 2 / RATE, score, level_db(chunk)))
    return out, -110 + 100 * vad.params.min_volume


def non_speech(rng: np.random.Generator) -> dict[str, np.ndarray]:
    from voicebot.audio import read_wav

    out = {
        "line noise RMS 30": rng.standard_normal(RATE * 5) * NOISE_RMS,
        "line noise RMS 300": rng.standard_normal(RATE * 5) * 10 * NOISE_RMS,
    }
    for name in ("beep", "beeperr", "ascending-2tone", "descending-2tone"):
        path = SOUNDS / f"{name}.wav"
        if path.is_file():
            x = read_wav(path, RATE).samples.astype(np.float32) / 32768
            out[name] = x / max(1e-3, float(np.abs(x).max())) * 0.3
    size = int(0.12 * RATE)
    burst = np.convolve(rng.standard_normal(size), np.ones(6) / 6, "same")
    burst *= np.exp(-np.linspace(0, 5, size))
    out["cough"] = np.concatenate([burst, np.zeros(int(0.06 * RATE)), 0.7 * burst]) * 0.8
    out["click"] = rng.standard_normal(int(0.01 * RATE)) * 0.6
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--count", type=int, default=40)
    p.add_argument("--peak", type=float, default=0.3)
    p.add_argument("--name", default="first_sound_threshold")
    args = p.parse_args(argv)
    setup(cpu=-1)
    from voicebot.audio import read_wav

    rng = np.random.default_rng(0)
    files = sorted(SOUNDS.glob("*.wav"))
    lags: dict[float, list[float | None]] = {t: [] for t in THRESHOLDS}
    for f in random.Random(args.seed).sample(files, args.count):
        x = read_wav(f, RATE).samples.astype(np.float32) / 32768
        x = x / max(1e-3, float(np.abs(x).max())) * args.peak
        sig = np.concatenate(
            [rng.standard_normal(RATE) * NOISE_RMS, x + rng.standard_normal(x.size) * NOISE_RMS]
        )
        env = np.sqrt(np.convolve(sig**2, np.ones(80) / 80, "same"))
        onset = int(np.argmax(env > 0.02 * args.peak)) / RATE
        chunks, floor = scored(sig)
        for t in THRESHOLDS:
            hit = next((at for at, c, db in chunks if at > 0.5 and c >= t and db >= floor), None)
            lags[t].append(None if hit is None else hit - onset)
    passing: dict[str, dict[float, int]] = {}
    for name, x in non_speech(rng).items():
        sig = np.concatenate([np.zeros(RATE // 2), x, np.zeros(RATE // 2)])
        sig = sig + rng.standard_normal(sig.size) * NOISE_RMS
        chunks, floor = scored(sig)
        passing[name] = {t: sum(c >= t and db >= floor for _, c, db in chunks) for t in THRESHOLDS}
    onset_to_chunk = {t: dist([v for v in lags[t] if v is not None]) for t in THRESHOLDS}
    rows = [
        [t, ms(d["p50"]), ms(d["p95"]), ms(d["max"]), sum(v is None for v in lags[t]),
         sum(passing[n][t] for n in passing)]
        for t, d in onset_to_chunk.items()
    ]  # fmt: skip
    head = ["threshold", "onset->chunk p50", "p95", "max", "never", "non-speech chunks passing"]
    print(table(head, rows, f"first sound by threshold ({args.count} prompts, peak {args.peak})"))
    result = {
        "onset_to_chunk_secs": {str(t): d for t, d in onset_to_chunk.items()},
        "non_speech_chunks_passing": {
            n: {str(t): c for t, c in v.items()} for n, v in passing.items()
        },
        "config": {
            "seed": args.seed,
            "count": args.count,
            "peak": args.peak,
            "line_noise_rms": 30,
            "vad": "Silero (Pipecat's analyzer), VADParams() defaults",
            "rule": "score >= threshold and chunk RMS dB >= -110 + 100 * min_volume",
        },
    }
    path = save(args.name, result)
    print(f"→ {path.relative_to(path.parents[2])}")
    return result


if __name__ == "__main__":
    main()
