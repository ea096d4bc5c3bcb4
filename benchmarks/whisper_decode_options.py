"""Whisper base in the bot's decoder, on VAD segments as the pipeline cuts them: does a beam
search, or less audio before the speech, hear more words right, and at what cost?

Each clip (``offline_stt``'s 10 LibriVox/card clips and ~340 telephone prompts, or the
fresh Asterisk subfolder prompts) gets 1 s of faint noise on each side and goes through
Pipecat's Silero VAD; each VAD segment is transcribed from ``--preroll`` seconds before the
VAD's start (Pipecat's ``SegmentedSTTService`` keeps 1 s, never reaching back past the
previous segment's stop) to its stop, with each ``--beams`` size in turn, clip by clip (so
load drifts hit every variant alike). Reported: WER over the set, clips heard exactly, and
the transcription time per clip (p50/p90; CPU-bound, so read the differences).

Session 21 (2026-12-04), expected before the runs and measured (machine shared with other
runs, load ~2):
- pre-roll 1.0 / 0.6 / 0.4 s on offline_stt: expected within noise; WER 12.27 / 12.14 /
  11.69 %, exact 234 / 229 / 229 of 346: no change worth making (not adopted).
- beam 1 / 3 / 5 on offline_stt (tuning): WER 12.27 / 10.79 / 10.47 %, p50 118 / 131 / 130 ms;
  then the fresh subfolders, expected beam 3 -1..-5 points: 34.69 / 35.94 / 34.06 %, exact
  117 / 112 / 117 of 185, p50 57 / 64 / 63 ms. The fresh set does not confirm it: the
  decoder stays greedy (``DECODE_OPTIONS``).

    python benchmarks/whisper_decode_options.py --set offline_stt --beams 1,3,5
    python benchmarks/whisper_decode_options.py --set subfolders --beams 1,3,5
    python benchmarks/whisper_decode_options.py --prerolls 1.0,0.6,0.4

Needs Debian's ``pocketsphinx-testdata`` and ``asterisk-core-sounds-en-wav``. Writes
``benchmarks/results/whisper_decode_options[_<set>].json`` with every clip's words.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import save, table, word_errors  # noqa: E402
from benchmarks.early_transcripts import subfolder_clips  # noqa: E402
from benchmarks.offline_stt import (  # noqa: E402
    MAX_SECS,
    load,
    normalize,
    sphinx_clips,
    telephone_clips,
)

RATE = 16000
CHUNK = 320  # 20 ms: two of the analyzer's 10 ms reads


async def segments(samples: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) sample indices of each VAD segment: the VAD's call of speech, its stop."""
    from pipecat.audio.vad.silero import SileroVADAnalyzer
    from pipecat.audio.vad.vad_analyzer import VADState

    vad = SileroVADAnalyzer(sample_rate=RATE)
    vad.set_sample_rate(RATE)
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    before, start, out = VADState.QUIET, None, []
    for i in range(0, len(pcm) - 2 * CHUNK + 1, 2 * CHUNK):
        state = await vad.analyze_audio(pcm[i : i + 2 * CHUNK])
        end = (i + 2 * CHUNK) // 2
        if state == VADState.SPEAKING and before not in (VADState.SPEAKING, VADState.STOPPING):
            start = end
        if state == VADState.QUIET and before == VADState.STOPPING and start is not None:
            out.append((start, end))
            start = None
        before = state
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="offline_stt", choices=["offline_stt", "subfolders"])
    parser.add_argument("--beams", default="1", help="beam sizes, e.g. 1,3,5")
    parser.add_argument("--prerolls", default="1.0", help="seconds before the VAD's start")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--name", default=None)
    args = parser.parse_args()
    beams = [int(b) for b in args.beams.split(",")]
    prerolls = [float(p) for p in args.prerolls.split(",")]
    variants = [(b, p) for b in beams for p in prerolls]

    from voicebot.providers.local import whisper

    stt = whisper.WhisperSTT(model="base")
    transcriber = stt.transcriber()
    clips = sphinx_clips() + telephone_clips() if args.set == "offline_stt" else subfolder_clips()
    clips = clips[: args.limit]
    rng = np.random.default_rng(0)
    load_before = os.getloadavg()
    default_beam = whisper.DECODE_OPTIONS["beam_size"]
    rows: list[dict[str, Any]] = []
    try:
        for clip in clips:
            audio, _ = load(clip)
            if len(audio) > MAX_SECS * RATE:
                continue  # as offline_stt: a VAD-cut turn, not a long recording
            noise = [(rng.standard_normal(RATE) * (10 / 32768)).astype(np.float32) for _ in "ab"]
            padded = np.concatenate([noise[0], audio, noise[1]])
            cuts = asyncio.run(segments(padded))
            if not cuts:
                continue
            reference = normalize(clip.text)
            row: dict[str, Any] = {"clip": clip.name, "ref": clip.text, "ref_words": len(reference)}
            for beam, preroll in variants:
                whisper.DECODE_OPTIONS["beam_size"] = beam
                texts, last, secs = [], 0, 0.0
                for start, stop in cuts:
                    began = time.perf_counter()
                    piece = padded[max(last, start - int(preroll * RATE)) : stop]
                    texts.append(transcriber.transcribe(piece).text)
                    secs += time.perf_counter() - began
                    last = stop
                text = " ".join(texts)
                row[f"beam {beam}, preroll {preroll:g}"] = {
                    "text": text,
                    "errors": word_errors(reference, normalize(text)),
                    "secs": secs,
                }
            rows.append(row)
    finally:
        whisper.DECODE_OPTIONS["beam_size"] = default_beam
    words = sum(r["ref_words"] for r in rows)
    summary: dict[str, Any] = {}
    lines = []
    for beam, preroll in variants:
        key = f"beam {beam}, preroll {preroll:g}"
        errors = sum(r[key]["errors"] for r in rows)
        times = sorted(r[key]["secs"] for r in rows)
        exact = sum(r[key]["errors"] == 0 for r in rows)
        s = {
            "wer": errors / max(1, words),
            "exact": exact,
            "clips": len(rows),
            "p50_ms": 1000 * times[len(times) // 2],
            "p90_ms": 1000 * times[int(0.9 * len(times))],
        }
        summary[key] = s
        wer, p50, p90 = f"{100 * s['wer']:.2f} %", f"{s['p50_ms']:.0f}", f"{s['p90_ms']:.0f}"
        lines.append([key, wer, f"{exact}/{len(rows)}", p50, p90])
    print(table(["variant", "WER", "exact", "p50 ms", "p90 ms"], lines, title=f"set {args.set}"))
    path = save(
        args.name or f"whisper_decode_options_{args.set}",
        {
            "command": "python benchmarks/whisper_decode_options.py " + " ".join(sys.argv[1:]),
            "config": {
                "stt": f"Whisper base, {whisper.DECODE_OPTIONS} (beam_size varied)",
                "threads": stt.threads,
                "vad": "pipecat SileroVADAnalyzer, default VADParams, 20 ms chunks",
                "set": args.set,
                "beams": beams,
                "prerolls_secs": prerolls,
                "load_avg_before": load_before,
                "load_avg_after": os.getloadavg(),
            },
            "summary": summary,
            "rows": rows,
        },
    )
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
