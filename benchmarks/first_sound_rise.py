"""A sudden onset as a first sound (``BargeIn.first_sound_rise_db``, issue #14 item 4): per
recorded prompt, the time from the onset to the first chunk ``OnsetWatch`` takes as a first
sound, by the score alone (0.5, the default) and with the rise rule (a chunk ``rise_db`` over
the louder of the two before, at ``RISE_MIN_DB`` or louder, scored ``RISE_MIN_SCORE`` or
more: ``OnsetWatch.classify``); and, on sounds that are not speech, how many chunks would
start a sound.

Why: on the fresh sets the slowest barge-ins open with an unvoiced consonant ("Sorry...",
"Transfer"), which Silero scores low for a chunk or two (docs/latency.md). Prompt sets: the
design set of ``first_sound_threshold`` (40 Asterisk prompts, seed 1, peak 0.3) and 60 others
(seed 7, peak 0.6), after 1 s of line noise RMS 30 and with it under them. Non-speech:
``first_sound_threshold``'s (line noise, beeps, jingles, a click, a cough) plus two breaths
(0.35 s of smoothed noise under a Hann window, peaks ~0.01 and ~0.03) and a lip smack
(2.5 ms burst). Silero alone, no pipeline, no clock. Session 19 chose 15 dB from this; the
pipeline check is ``bench_backchannel --set fresh5 --rise-pair``.

    .venv/bin/python -m benchmarks.first_sound_rise

Writes benchmarks/results/first_sound_rise.json.
"""

from __future__ import annotations

import argparse
import random
from typing import Any

import numpy as np

from benchmarks.common import dist, ms, save, setup, table
from benchmarks.first_sound_threshold import NOISE_RMS, RATE, SOUNDS, non_speech, scored

RISES = (None, 10.0, 15.0, 20.0, 25.0)
PROMPT_SETS = {"design (seed 1, peak 0.3)": (1, 40, 0.3), "other (seed 7, peak 0.6)": (7, 60, 0.6)}


def first_sounds(chunks: list[tuple[float, float, float]], floor: float, rise: float | None):
    """The end times of the chunks ``OnsetWatch.classify`` would start a sound on."""
    from voicebot.conversation.pauses import ROSE, VOICED, OnsetWatch

    watch = OnsetWatch(None, rise_db=rise)  # type: ignore[arg-type]
    return [
        at for at, score, db in chunks if watch.classify(score, db, 0.5, floor) in (VOICED, ROSE)
    ]


def non_speech_passing(
    rng: np.random.Generator, rises: tuple[float | None, ...]
) -> dict[str, dict[str, int]]:
    """Per sound that is not speech (``first_sound_threshold``'s, two breaths and a lip
    smack, each in 0.5 s of quiet with line noise under it), how many of its chunks each rule
    would take as a first sound."""
    sounds = non_speech(rng)
    for peak in (0.01, 0.03):
        n = int(0.35 * RATE)
        breath = np.convolve(rng.standard_normal(n), np.ones(3) / 3, "same") * np.hanning(n)
        sounds[f"breath ~{peak}"] = breath * peak / max(1e-9, float(np.abs(breath).max()))
    smack = np.zeros(int(0.03 * RATE))
    smack[:40] = rng.standard_normal(40) * 0.2
    sounds["lip smack"] = smack
    passing: dict[str, dict[str, int]] = {}
    for name, x in sounds.items():
        sig = np.concatenate([np.zeros(RATE // 2), x, np.zeros(RATE // 2)])
        chunks, floor = scored(sig + rng.standard_normal(sig.size) * NOISE_RMS)
        passing[name] = {str(r): len(first_sounds(chunks, floor, r)) for r in rises}
    return passing


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--name", default="first_sound_rise")
    args = p.parse_args(argv)
    setup(cpu=-1)
    from voicebot.audio import read_wav

    rng = np.random.default_rng(0)
    files = sorted(SOUNDS.glob("*.wav"))
    lags: dict[str, dict[str, list[float]]] = {}
    for label, (seed, count, peak) in PROMPT_SETS.items():
        per_rule: dict[str, list[float]] = {str(r): [] for r in RISES}
        for f in random.Random(seed).sample(files, count):
            x = read_wav(f, RATE).samples.astype(np.float32) / 32768
            x = x / max(1e-3, float(np.abs(x).max())) * peak
            noise = rng.standard_normal(RATE + x.size) * NOISE_RMS
            sig = np.concatenate([np.zeros(RATE), x]) + noise
            env = np.sqrt(np.convolve(sig**2, np.ones(80) / 80, "same"))
            onset = int(np.argmax(env > 0.02 * peak)) / RATE
            chunks, floor = scored(sig)
            for r in RISES:
                hit = next((at for at in first_sounds(chunks, floor, r) if at > 0.5), None)
                if hit is not None:
                    per_rule[str(r)].append(hit - onset)
        lags[label] = per_rule
    passing = non_speech_passing(rng, RISES)
    rows = []
    for r in RISES:
        row: list[Any] = ["score 0.5 only" if r is None else f"+ rise {r:g} dB"]
        for label in PROMPT_SETS:
            d = dist(lags[label][str(r)])
            row += [ms(d["p50"]), ms(d["p95"])]
        row.append(sum(v[str(r)] for v in passing.values()))
        rows.append(row)
    head = ["rule"]
    for label in PROMPT_SETS:
        head += [f"{label} p50", "p95"]
    head.append("non-speech chunks passing")
    print(table(head, rows, "onset -> first sound (ms)"))
    result = {
        "onset_to_first_sound_secs": {
            label: {r: dist(v) for r, v in per.items()} for label, per in lags.items()
        },
        "non_speech_chunks_passing": passing,
        "config": {
            "prompt_sets": {
                k: dict(seed=v[0], count=v[1], peak=v[2]) for k, v in PROMPT_SETS.items()
            },
            "line_noise_rms": 30,
            "vad": "Silero (voicebot's analyzer), VADParams() defaults",
            "rule": "score >= 0.5 and chunk dB >= min_volume's, or OnsetWatch.rises",
        },
    }
    path = save(args.name, result)
    print(f"→ {path.relative_to(path.parents[2])}")
    return result


if __name__ == "__main__":
    main()
