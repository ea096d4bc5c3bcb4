"""Transcribing a long turn in pieces while the caller speaks: what it saves, what it costs.

The offline Whisper starts 64 ms into the caller's last pause (``early_transcripts``), but a
6-8 s sentence still takes ~0.2-0.4 s, most of it after the VAD's stop. The idea tested
here: at each short pause the caller talks through (quiet for 64 ms, then speech again,
inside one VAD segment), keep the transcript of the piece so far, so that at the last pause
only the last piece is left to transcribe; the turn's transcript is the pieces joined.

On the sets of ``benchmarks/early_transcripts.py`` (offline_stt's 348 clips), each clip is
played through Silero (default parameters, 20 ms chunks); pieces are cut at the 64 ms point
of every pause the caller talked through, when both sides are at least ``--min-piece``
seconds; each piece is transcribed with room tone for the rest of the VAD's stop wait, as
the bot does, optionally (``--prompted``) with the pieces before it as Whisper's previous
text. Compared with what the bot does now, the whole segment transcribed at the last pause:
WER over all clips and over the clips that had pieces, and the Whisper time of the whole
segment against the last piece (what would be left at the stop).

No expectation was written down before the first run (an ad hoc script, session 12, of
which this is the cleaned-up copy); the figures are in docs/offline.md, "Why we are still
far from 500 ms".

    python benchmarks/piecewise_transcripts.py --min-piece 1.0
    python benchmarks/piecewise_transcripts.py --min-piece 1.0 --prompted
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import word_errors  # noqa: E402
from benchmarks.early_transcripts import CHUNK, RATE, room_tone_to  # noqa: E402
from benchmarks.offline_stt import (  # noqa: E402
    MAX_SECS,
    load,
    normalize,
    sphinx_clips,
    telephone_clips,
)

EARLY_SECS = 0.064


async def pauses(samples: np.ndarray) -> tuple[int, int, list[int], int] | None:
    """(the last stop, the 64 ms point of its pause, the 64 ms points of the pauses before
    it that the caller talked through, as sample indexes; the VAD's stops in the clip);
    None if the VAD never stopped."""
    from pipecat.audio.vad.silero import SileroVADAnalyzer
    from pipecat.audio.vad.vad_analyzer import VADState

    vad = SileroVADAnalyzer(sample_rate=RATE)
    vad.set_sample_rate(RATE)
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    quiet, point = 0, None
    talked_through: list[int] = []
    last: tuple[int, int] | None = None
    stops = 0
    for i in range(0, len(pcm) - 2 * CHUNK + 1, 2 * CHUNK):
        state = await vad.analyze_audio(pcm[i : i + 2 * CHUNK])
        end = (i + 2 * CHUNK) // 2
        if state == VADState.STOPPING:
            quiet += CHUNK
            if point is None and quiet >= EARLY_SECS * RATE - 1:
                point = end
        elif state == VADState.QUIET and quiet:
            stops += 1
            if point is not None:
                last = (end, point)
            quiet, point = 0, None
        else:
            if point is not None and state == VADState.SPEAKING:
                talked_through.append(point)
            quiet, point = 0, None
    if last is None:
        return None
    stop, at = last
    return stop, at, [p for p in talked_through if p < at], stops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-piece", type=float, default=1.0, help="seconds, each side")
    parser.add_argument("--prompted", action="store_true", help="earlier pieces as context")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--name", default=None)
    args = parser.parse_args()

    from voicebot.providers.local.whisper import DECODE_OPTIONS, WhisperSTT

    transcriber = WhisperSTT(model="base").transcriber()
    tokenizer = transcriber._tokenizer  # a benchmark may reach in; the bot does not
    plain_prompt = list(transcriber._prompt)

    def transcribe(audio: np.ndarray, before: str) -> tuple[str, float]:
        if args.prompted and before:
            previous = tokenizer.encode(" " + before.strip())[-200:]
            transcriber._prompt = [tokenizer.sot_prev, *previous, *plain_prompt]
        started = time.perf_counter()
        try:
            return transcriber.transcribe(audio).text, time.perf_counter() - started
        finally:
            transcriber._prompt = plain_prompt

    load_before = os.getloadavg()
    rows: list[dict[str, Any]] = []
    for clip in (sphinx_clips() + telephone_clips())[: args.limit]:
        audio, _ = load(clip)
        if len(audio) > MAX_SECS * RATE:
            continue
        padded = np.concatenate(
            [np.zeros(RATE // 2, np.float32), audio, np.zeros(RATE, np.float32)]
        )
        found = asyncio.run(pauses(padded))
        if found is None:
            continue
        stop, at, talked_through, segments = found
        tone = stop - at
        ref = normalize(clip.text)
        whole, whole_secs = transcribe(room_tone_to(padded[:at], stop), "")
        edges, start = [0], 0
        for p in talked_through:
            if p - start >= args.min_piece * RATE and at - p >= args.min_piece * RATE:
                edges.append(p)
                start = p
        edges.append(at)
        texts: list[str] = []
        last_secs = whole_secs
        if len(edges) > 2:
            for a, b in itertools.pairwise(edges):
                text, last_secs = transcribe(
                    room_tone_to(padded[a:b], b - a + tone), " ".join(texts)
                )
                texts.append(text)
        joined = " ".join(t for t in texts if t) if texts else whole
        rows.append(
            {
                "clip": clip.name,
                "ref": clip.text,
                "ref_words": len(ref),
                "pieces": max(1, len(texts)),
                "vad_segments": segments,
                "whole": whole,
                "piece_texts": texts,
                "errors_whole": word_errors(ref, normalize(whole)),
                "errors_pieces": word_errors(ref, normalize(joined)),
                "whisper_secs_whole": round(whole_secs, 4),
                "whisper_secs_last_piece": round(last_secs, 4),
            }
        )

    def wer(subset: list[dict[str, Any]], key: str) -> float:
        words = sum(r["ref_words"] for r in subset)
        return round(100 * sum(r[key] for r in subset) / words, 1) if words else 0.0

    def p50(subset: list[dict[str, Any]], key: str) -> float | None:
        return round(statistics.median(r[key] for r in subset), 3) if subset else None

    multi = [r for r in rows if r["pieces"] > 1]
    # A clip the VAD cut in several segments is transcribed by the bot segment by segment,
    # not whole: only the single-segment clips compare pieces with what the bot does.
    single = [r for r in multi if r["vad_segments"] == 1]
    summary = {
        "clips": len(rows),
        "clips_with_pieces": len(multi),
        "wer_all_whole": wer(rows, "errors_whole"),
        "wer_all_pieces": wer(rows, "errors_pieces"),
        "wer_with_pieces_whole": wer(multi, "errors_whole"),
        "wer_with_pieces_pieces": wer(multi, "errors_pieces"),
        "clips_with_pieces_one_vad_segment": len(single),
        "wer_one_segment_whole": wer(single, "errors_whole"),
        "wer_one_segment_pieces": wer(single, "errors_pieces"),
        "whisper_secs_p50_one_segment_whole": p50(single, "whisper_secs_whole"),
        "whisper_secs_p50_one_segment_last_piece": p50(single, "whisper_secs_last_piece"),
        "whisper_secs_p50_whole": p50(multi, "whisper_secs_whole"),
        "whisper_secs_p50_last_piece": p50(multi, "whisper_secs_last_piece"),
    }
    print(f"\n{' '.join(['python benchmarks/piecewise_transcripts.py', *sys.argv[1:]])}\n")
    print(
        f"one VAD segment: {summary['clips_with_pieces_one_vad_segment']} clips, WER "
        f"{summary['wer_one_segment_whole']} / {summary['wer_one_segment_pieces']} %, Whisper "
        f"{summary['whisper_secs_p50_one_segment_whole']} / "
        f"{summary['whisper_secs_p50_one_segment_last_piece']} s"
    )
    print(
        "| clips | with pieces | WER all: whole / pieces | WER on those with pieces: whole "
        "/ pieces | Whisper p50 on those: whole / last piece |"
    )
    print("|---|---|---|---|---|")
    print(
        f"| {summary['clips']} | {summary['clips_with_pieces']} | {summary['wer_all_whole']} / "
        f"{summary['wer_all_pieces']} % | {summary['wer_with_pieces_whole']} / "
        f"{summary['wer_with_pieces_pieces']} % | {summary['whisper_secs_p50_whole']} / "
        f"{summary['whisper_secs_p50_last_piece']} s |"
    )
    name = args.name or f"piecewise_transcripts_{args.min_piece:g}s" + (
        "_prompted" if args.prompted else ""
    )
    out = ROOT / "benchmarks" / "results" / f"{name}.json"
    out.write_text(
        json.dumps(
            {
                "command": " ".join(["python benchmarks/piecewise_transcripts.py", *sys.argv[1:]]),
                "config": {
                    "stt": f"Whisper base, {DECODE_OPTIONS}",
                    "vad": "pipecat SileroVADAnalyzer, default VADParams, 20 ms chunks",
                    "early_secs": EARLY_SECS,
                    "min_piece_secs": args.min_piece,
                    "prompted": args.prompted,
                    "machine": platform.machine(),
                    "cpus": os.cpu_count(),
                    "load_avg_before": load_before,
                    "load_avg_after": os.getloadavg(),
                },
                "summary": summary,
                "rows": rows,
            },
            indent=1,
        )
        + "\n"
    )
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
