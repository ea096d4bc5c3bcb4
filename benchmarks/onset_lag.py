"""Where the VAD's start lag comes from (issue #14, item 4): per recorded prompt, the time
from the sound's onset to Silero's first chunk at the VAD's confidence, to the VAD's
smoothed 400 ms loudness reaching ``min_volume``, and to the VAD calling speech started at
``start_secs`` 0.2 and 0.064 s.

The measurement behind ``BargeIn(pause_at="first_sound")``: 40 Asterisk prompts
(``random.sample`` of Debian ``asterisk-core-sounds-en-wav``, seed 1), each normalized to a
peak level, after 1 s of line noise (RMS 30 of 32768) and with that noise under it, fed to
Pipecat's Silero analyzer chunk by chunk (no pipeline, no clock; it calls the analyzer's
private state machine and smoothed volume directly). The onset is the first 5 ms window over
2 % of the peak. Run at peaks 0.6, 0.3 and 0.15 before the change; its
figures (p50 / p95, ms, peak 0.6): first voiced chunk 46 / 102, loudness 74 / 100, the VAD's
call at 0.2 s 237 / 431, at 0.064 s 108 / 165.

    .venv/bin/python -m benchmarks.onset_lag [--seed 1] [--peaks 0.6 0.3 0.15]

Writes benchmarks/results/onset_lag.json.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import dist, ms, save, table

RATE = 16000
SOUNDS = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
KEYS = ("first voiced chunk", "loudness over min_volume", "VAD call, start 0.2 s",
        "VAD call, start 0.064 s")  # fmt: skip


def lags(x: np.ndarray, rng: np.random.Generator, peak: float) -> dict[str, float | None]:
    from pipecat.audio.vad.silero import SileroVADAnalyzer
    from pipecat.audio.vad.vad_analyzer import VADParams, VADState

    x = x / max(1e-3, float(np.max(np.abs(x)))) * peak
    noise = 30 / 32768
    sig = np.concatenate(
        [rng.standard_normal(RATE) * noise, x + rng.standard_normal(x.size) * noise]
    )
    env = np.sqrt(np.convolve(sig**2, np.ones(80) / 80, "same"))
    onset = int(np.argmax(env > 0.02 * peak)) / RATE
    pcm = (np.clip(sig, -1, 1) * 32767).astype(np.int16).tobytes()
    out: dict[str, float | None] = dict.fromkeys(KEYS)

    for key, start in ((KEYS[2], 0.2), (KEYS[3], 0.064)):
        vad = SileroVADAnalyzer(params=VADParams(start_secs=start))
        vad.set_sample_rate(RATE)
        n = vad.num_frames_required() * 2
        for i in range(0, len(pcm) - n, n):
            if vad._run_analyzer(pcm[i : i + n]) == VADState.SPEAKING:
                out[key] = (i + n) / 2 / RATE - onset
                break
    vad = SileroVADAnalyzer(params=VADParams())
    vad.set_sample_rate(RATE)
    n = vad.num_frames_required() * 2
    for i in range(0, len(pcm) - n, n):
        chunk = pcm[i : i + n]
        t = (i + n) / 2 / RATE
        score = float(np.asarray(vad.voice_confidence(chunk)).ravel()[0])
        volume = vad._get_smoothed_volume(chunk)
        vad._prev_volume = volume
        if out[KEYS[0]] is None and t > 0.5 and score >= vad.params.confidence:
            out[KEYS[0]] = t - onset
        if out[KEYS[1]] is None and volume >= vad.params.min_volume:
            out[KEYS[1]] = t - onset
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from voicebot.audio import read_wav

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--count", type=int, default=40)
    p.add_argument("--peaks", type=float, nargs="+", default=[0.6, 0.3, 0.15])
    p.add_argument("--name", default="onset_lag")
    args = p.parse_args(argv)
    files = random.Random(args.seed).sample(sorted(SOUNDS.glob("*.wav")), args.count)
    clips = [read_wav(f, RATE).samples.astype(np.float32) / 32768 for f in files]
    result: dict[str, Any] = {"config": vars(args) | {"files": [f.name for f in files]}}
    rows = []
    for peak in args.peaks:
        rng = np.random.default_rng(0)
        per_clip = [lags(x, rng, peak) for x in clips if x.size >= 0.3 * RATE]
        stats = {k: dist([c[k] for c in per_clip if c[k] is not None]) for k in KEYS}
        result[f"peak {peak}"] = {"clips": per_clip, "lags": stats}
        rows += [[peak, k, ms(v["p50"]), ms(v["p95"]), v["n"]] for k, v in stats.items()]
    print(table(["peak", "onset to", "p50", "p95", "n"], rows, "VAD start lag (ms)"))
    path = save(args.name, result)
    print(f"→ {path.relative_to(path.parents[2])}")
    return result


if __name__ == "__main__":
    main()
