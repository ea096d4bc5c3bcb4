"""Transcribing at the caller's pause instead of at the VAD's stop: what it costs in words.

``WhisperSTT(early_secs=...)`` starts Whisper that far into a pause and, if the VAD's stop
follows, uses that transcript (``voicebot/providers/local/early_transcripts.py``). The audio
Whisper then hears ends ``early_secs`` into the quiet instead of ``stop_secs`` (0.2 s) into
it. This measures what that changes, on real recorded speech (the sets of
``benchmarks/offline_stt.py``: 10 LibriVox/cards clips, ~340 telephone prompts):

each clip is played through Pipecat's Silero VAD analyzer (default parameters, 20 ms chunks,
0.5 s of silence before and 1 s after); at the clip's last stop, the audio from the start to
the point ``early_secs`` into that pause is transcribed, for each ``--early`` value, and so is
the audio up to the stop itself (the baseline, what the bot transcribed before). Reported per
value: WER against the reference, clips whose words differ from the stop's transcript, and
how far before the stop the early point was. Whisper base, the bot's decoder.

Expected (written before the first run): with 64 ms, a few clips lose or garble their last
word (the VAD's "quiet" starts inside a word's decay), WER +1-3 points; at 128 ms, within
noise of the stop's.

    python benchmarks/early_transcripts.py                   # --early 0.064,0.096,0.128,0.16
    python benchmarks/early_transcripts.py --limit 40        # a quick look
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
    MAX_SECS,
    Clip,
    load,
    normalize,
    sphinx_clips,
    telephone_clips,
)

RATE = 16000
CHUNK = 320  # 20 ms


async def pause_points(
    samples: np.ndarray, early: list[float]
) -> tuple[int, dict[float, int]] | None:
    """Where the VAD's last stop fell, and each early point of that pause (sample index)."""
    from pipecat.audio.vad.silero import SileroVADAnalyzer
    from pipecat.audio.vad.vad_analyzer import VADState

    vad = SileroVADAnalyzer(sample_rate=RATE)
    vad.set_sample_rate(RATE)
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    state, quiet, points, last = VADState.QUIET, 0, {}, None
    current: dict[float, int] = {}
    for i in range(0, len(pcm) - 2 * CHUNK + 1, 2 * CHUNK):
        state = await vad.analyze_audio(pcm[i : i + 2 * CHUNK])
        end = (i + 2 * CHUNK) // 2
        if state == VADState.STOPPING:
            quiet += CHUNK
            for e in early:
                if e not in current and quiet >= e * RATE - 1:
                    current[e] = end
        elif state == VADState.QUIET and quiet:
            last, points = end, dict(current)
            current, quiet = {}, 0
        else:
            current, quiet = {}, 0
    return (last, points) if last is not None else None


def subfolder_clips() -> list[Clip]:
    """Asterisk's prompts in subfolders (digits, letters, phonetic alphabet, dictation and
    follow-me prompts): not in offline_stt's sets, so fresh for choices made on those."""
    import gzip
    import re

    from benchmarks.offline_stt import ASTERISK, ASTERISK_TEXT

    out: list[Clip] = []
    with gzip.open(ASTERISK_TEXT, "rt") as f:
        for line in f.read().splitlines():
            m = re.match(r"^((?:dictate|followme|digits|letters|phonetic)/[\w-]+):\s*(.+)$", line)
            if m and "[" not in m.group(2) and (ASTERISK / f"{m.group(1)}.wav").is_file():
                out.append(
                    Clip("subfolders", m.group(1), ASTERISK / f"{m.group(1)}.wav", m.group(2))
                )
    return out


def room_tone_to(snapshot: np.ndarray, length: int) -> np.ndarray:
    """``snapshot`` made ``length`` samples long with noise at the level of its last 64 ms."""
    missing = length - len(snapshot)
    if missing <= 0:
        return snapshot
    level = float(np.sqrt(np.mean(snapshot[-1024:] ** 2)))
    noise = np.random.default_rng(0).normal(0.0, level, missing).astype(np.float32)
    return np.concatenate([snapshot, noise])


def summary(rows: list[dict[str, Any]], key: str) -> dict[str, Any]:
    from voicebot.providers.local.whisper_repeats import repeats_itself, without_repeats

    have = [r for r in rows if key in r]
    words = sum(r["ref_words"] for r in have)
    errors = sum(r[key]["errors"] for r in have)
    differ = sum(1 for r in have if normalize(r[key]["text"]) != normalize(r["stop"]["text"]))
    ahead = [r[key].get("before_stop_secs", 0.0) for r in have]
    # As the bot does: an early transcript that repeats itself gives way to the stop's.
    trusted = [r for r in have if key == "stop" or not repeats_itself(r[key]["text"])]
    used = {id(r) for r in trusted}
    guarded = sum(r[key if id(r) in used else "stop"]["errors"] for r in have)
    deltas = [r[key]["errors"] - r["stop"]["errors"] for r in trusted]

    # And with repeats removed from every transcript (WhisperTranscriber does, since).
    def cleaned(r: dict[str, Any], k: str) -> int:
        return int(word_errors(normalize(r["ref"]), normalize(without_repeats(r[k]["text"]))))

    bot = sum(cleaned(r, key if id(r) in used else "stop") for r in have)
    return {
        "clips": len(have),
        "wer": errors / max(1, words),
        "differ_from_stop": differ,
        "ahead_of_stop_p50_secs": float(np.median(ahead)) if ahead else None,
        "guarded_wer": guarded / max(1, words),
        "guarded_fell_back": len(have) - len(trusted),
        "guarded_worse": sum(1 for d in deltas if d > 0),
        "guarded_better": sum(1 for d in deltas if d < 0),
        "repeats_removed_wer": bot / max(1, words),
        "repeats_removed_better": sum(1 for r in have if cleaned(r, "stop") < r["stop"]["errors"])
        if key == "stop"
        else None,
        "repeats_removed_worse": sum(1 for r in have if cleaned(r, "stop") > r["stop"]["errors"])
        if key == "stop"
        else None,
    }


def print_table(rows: list[dict[str, Any]], keys: list[str]) -> dict[str, Any]:
    """Print the summary table; return the summaries by key."""
    table = {key: summary(rows, key) for key in ["stop", *keys]}
    print(
        "\n| transcribed at | clips | WER | words differ from the stop's "
        "| ahead of the stop (p50) | WER, repeats not trusted | fell back | worse / better "
        "| WER, repeats also removed |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for key, s in table.items():
        label = (
            "the VAD's stop (baseline)"
            if key == "stop"
            else f"{float(key) * 1000:.0f} ms into the pause"
        )
        ahead = "-" if key == "stop" else f"{s['ahead_of_stop_p50_secs'] * 1000:.0f} ms"
        print(
            f"| {label} | {s['clips']} | {s['wer']:.1%} | {s['differ_from_stop']} | {ahead} "
            f"| {s['guarded_wer']:.1%} | {s['guarded_fell_back']} "
            f"| {s['guarded_worse']} / {s['guarded_better']} | {s['repeats_removed_wer']:.1%} |"
        )
    stop = table["stop"]
    print(
        f"removing repeats at the stop: {stop['repeats_removed_better']} clips nearer the "
        f"reference, {stop['repeats_removed_worse']} further"
    )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--early", default="0.064,0.096,0.128,0.16")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument(
        "--set",
        default="offline_stt",
        choices=["offline_stt", "subfolders"],
        help="offline_stt's sets (librivox+cards, telephone) or the fresh subfolder prompts",
    )
    parser.add_argument("--name", default="early_transcripts")
    parser.add_argument(
        "--pad",
        action="store_true",
        help="extend each early snapshot to the stop's length with noise at its tail's level",
    )
    parser.add_argument(
        "--rescore",
        type=Path,
        default=None,
        help="recompute a results file's summary from its rows (no transcription)",
    )
    args = parser.parse_args()
    early = [float(x) for x in args.early.split(",")]
    if args.rescore is not None:
        saved = json.loads(args.rescore.read_text())
        keys = [k for k in saved["summary"] if k != "stop"]
        saved["summary"] = print_table(saved["rows"], keys)
        args.rescore.write_text(json.dumps(saved, indent=1))
        print(f"rescored {args.rescore}")
        return

    from voicebot.providers.local.whisper import DECODE_OPTIONS, WhisperSTT

    stt = WhisperSTT(model="base")
    transcriber = stt.transcriber()
    every = sphinx_clips() + telephone_clips() if args.set == "offline_stt" else subfolder_clips()
    clips: list[Clip] = every[: args.limit]
    load_before = os.getloadavg()
    rows: list[dict[str, Any]] = []
    start = time.time()
    for n, clip in enumerate(clips):
        audio, _ = load(clip)
        if len(audio) > MAX_SECS * RATE:
            continue  # as offline_stt: a VAD-cut turn, not a 30 s recording
        padded = np.concatenate(
            [np.zeros(RATE // 2, np.float32), audio, np.zeros(RATE, np.float32)]
        )
        found = asyncio.run(pause_points(padded, early))
        if found is None:
            continue
        stop, points = found
        ref = normalize(clip.text)
        row: dict[str, Any] = {"clip": clip.name, "set": clip.set, "ref": clip.text}
        at_stop = transcriber.transcribe(padded[:stop]).text
        row["stop"] = {"text": at_stop, "errors": word_errors(ref, normalize(at_stop))}
        for e in early:
            if e not in points:
                continue
            snapshot = padded[: points[e]]
            if args.pad:
                snapshot = room_tone_to(snapshot, stop)
            text = transcriber.transcribe(snapshot).text
            row[str(e)] = {
                "text": text,
                "errors": word_errors(ref, normalize(text)),
                "before_stop_secs": (stop - points[e]) / RATE,
            }
        row["ref_words"] = len(ref)
        rows.append(row)
        if n % 25 == 0:
            print(f"  {n}/{len(clips)} clips, {time.time() - start:.0f} s", flush=True)

    table = print_table(rows, [str(e) for e in early])
    out = ROOT / "benchmarks" / "results" / f"{args.name}.json"
    out.write_text(
        json.dumps(
            {
                "command": "python benchmarks/early_transcripts.py " + " ".join(sys.argv[1:]),
                "config": {
                    "stt": f"Whisper base, {DECODE_OPTIONS}",
                    "vad": "pipecat SileroVADAnalyzer, default VADParams, 20 ms chunks",
                    "early_secs": early,
                    "set": args.set,
                    "pad": "noise at the tail's level up to the stop" if args.pad else None,
                    "machine": platform.machine(),
                    "cpus": os.cpu_count(),
                    "load_avg_before": load_before,
                    "load_avg_after": os.getloadavg(),
                },
                "summary": table,
                "rows": rows,
            },
            indent=1,
        )
    )
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
