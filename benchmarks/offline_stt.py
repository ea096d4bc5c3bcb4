"""Offline STT: Whisper tiny.en against Whisper base, word error rate and time per utterance.

Both models run through ``WhisperSTT(model=...).transcriber().transcribe``, the trimmed-window
decoder the bot's STT service calls, with the service's own no-speech drop. Each utterance is
transcribed whole (as if the VAD had cut it exactly), from int16 samples scaled like the
service does. The two models alternate clip by clip (which goes first alternates too), in one
process, so machine load hits both alike; the load average is sampled throughout.

Real recorded speech, nothing synthesised:

- ``librivox+cards``: Debian's ``pocketsphinx-testdata`` (5 LibriVox sentences, 5 spoken
  card names, 16 kHz). These 10 clips were used earlier to choose the decoder's loop guards
  (for tiny.en), so they slightly favour tiny.en.
- ``telephone``: Debian's ``asterisk-core-sounds-en-wav``: every top-level English prompt
  with a transcript in ``core-sounds-en.txt`` (none in brackets, i.e. no tones), at most
  15 s long (a VAD-cut turn); 8 kHz, upsampled to 16 kHz with soxr as Pipecat's input
  resampler would. Not used for any tuning.

WER: edits / reference words over the whole set, after one normaliser for both sides (lower
case, punctuation dropped, hyphens split, digits spelled out, # and * as "pound"/"star", a few
title abbreviations spelled out). Nothing was tuned on these sets.

    apt-get install -y pocketsphinx-testdata asterisk-core-sounds-en-wav asterisk-core-sounds-en
    python benchmarks/offline_stt.py       # table; writes results/offline_stt.json
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import word_errors  # noqa: E402
from voicebot.audio import read_wav  # noqa: E402
from voicebot.providers.local.whisper import (  # noqa: E402
    DECODE_OPTIONS,
    SAMPLE_RATE,
    WhisperSTT,
)

SPHINX = Path("/usr/share/pocketsphinx/test/data")
ASTERISK = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
ASTERISK_TEXT = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
RESULTS = Path(__file__).resolve().parent / "results"
MODELS = ("tiny.en", "base")
MAX_SECS = 15.0
TAIL_SECS = 1.0  # what LocalWhisperSTTService passes


@dataclass
class Clip:
    set: str
    name: str
    path: Path
    text: str


# ---- data -------------------------------------------------------------------------------


def sphinx_clips() -> list[Clip]:
    out: list[Clip] = []
    for folder, transcript in (("librivox", "transcription"), ("cards", "cards.transcription")):
        for line in (SPHINX / folder / transcript).read_text().splitlines():
            m = re.match(r"<s> (.*?)\s*</s> \((.*)\)", line.strip())
            if m:
                path = SPHINX / folder / f"{m.group(2)}.wav"
                out.append(Clip("librivox+cards", f"{folder}/{m.group(2)}", path, m.group(1)))
    return out


def telephone_clips() -> list[Clip]:
    out: list[Clip] = []
    with gzip.open(ASTERISK_TEXT, "rt") as f:
        lines = f.read().splitlines()
    for line in lines:
        m = re.match(r"^([\w-]+):\s*(.+)$", line)  # top level only: no "digits/1"
        if not m or "[" in m.group(2):
            continue
        path = ASTERISK / f"{m.group(1)}.wav"
        if path.is_file():
            out.append(Clip("telephone", m.group(1), path, m.group(2)))
    return out


def load(clip: Clip) -> tuple[np.ndarray, int]:
    pcm = read_wav(clip.path)
    rate = pcm.sample_rate
    if rate != SAMPLE_RATE:
        pcm = read_wav(clip.path, SAMPLE_RATE)  # soxr, as Pipecat's input resampler
    return pcm.samples.astype(np.float32) / 32768.0, rate  # as LocalWhisperSTTService


# ---- WER --------------------------------------------------------------------------------

_ABBREV = {"mr": "mister", "mrs": "missus", "dr": "doctor", "st": "saint"}


def normalize(text: str) -> list[str]:
    from num2words import num2words

    text = text.lower().replace("#", " pound ").replace("*", " star ").replace("&", " and ")
    text = re.sub(r"(\d),(\d{3})\b", r"\1\2", text.replace("%", " percent "))
    words = re.sub(r"[^a-z0-9' ]", " ", re.sub(r"[-/]", " ", text)).split()
    out: list[str] = []
    for w in (w.strip("'") for w in words):
        if w.isdigit():
            spoken = num2words(int(w)).replace("-", " ").replace(",", " ")
            out.extend(x for x in spoken.split() if x != "and")
        elif w:
            out.append(_ABBREV.get(w, w))
    return out


# ---- run --------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def summarize(rows: list[dict[str, Any]], model: str) -> dict[str, Any]:
    mine = [r[model] for r in rows]
    ref_words = sum(r["ref_words"] for r in rows)
    errors = sum(m["errors"] for m in mine)
    ms = [m["ms"] for m in mine]
    audio = sum(r["secs"] for r in rows)
    return {
        "utterances": len(rows),
        "ref_words": ref_words,
        "errors": errors,
        "wer": errors / ref_words if ref_words else float("nan"),
        "exact_utterances": sum(m["errors"] == 0 for m in mine),
        "dropped_as_no_speech": sum(m["dropped"] for m in mine),
        "ms_p50": percentile(ms, 50),
        "ms_p90": percentile(ms, 90),
        "ms_max": max(ms),
        "ms_mean": float(np.mean(ms)),
        "ms_per_audio_sec": sum(ms) / audio,
    }


def summaries(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per set and overall: each model's figures, and the paired comparison."""
    out: dict[str, Any] = {}
    for name in [*sorted({r["set"] for r in rows}), "all"]:
        part = [r for r in rows if name in ("all", r["set"])]
        diff = [r["base"]["ms"] - r["tiny.en"]["ms"] for r in part]
        out[name] = {m: summarize(part, m) for m in MODELS}
        out[name]["paired"] = {
            "base_fewer_errors": sum(r["base"]["errors"] < r["tiny.en"]["errors"] for r in part),
            "base_more_errors": sum(r["base"]["errors"] > r["tiny.en"]["errors"] for r in part),
            "ms_diff_p50": percentile(diff, 50),
            "ms_diff_p90": percentile(diff, 90),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=WhisperSTT().threads)
    ap.add_argument("--limit", type=int, default=0, help="telephone clips to use (0: all)")
    args = ap.parse_args()
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    if not (SPHINX / "librivox").is_dir() or not ASTERISK_TEXT.is_file():
        raise SystemExit(
            "needs Debian's data: apt-get install -y pocketsphinx-testdata "
            "asterisk-core-sounds-en-wav asterisk-core-sounds-en (the prompts' texts; a "
            "recommends of the first, missing where recommends are not installed)"
        )

    load_start = os.getloadavg()
    stts = {m: WhisperSTT(model=m, threads=args.threads) for m in MODELS}
    transcribers = {m: stt.transcriber() for m, stt in stts.items()}
    threshold = stts[MODELS[0]].no_speech_threshold
    clips = sphinx_clips()
    phone = telephone_clips()
    clips += phone[: args.limit] if args.limit else phone
    warm, _ = load(clips[0])
    for t in transcribers.values():  # first calls allocate; not timed
        t.transcribe(warm, tail_secs=TAIL_SECS)

    rows: list[dict[str, Any]] = []
    loads: list[float] = []
    skipped = 0
    for i, clip in enumerate(clips):
        audio, rate = load(clip)
        secs = len(audio) / SAMPLE_RATE
        if secs > MAX_SECS:
            skipped += 1
            continue
        ref = normalize(clip.text)
        row: dict[str, Any] = {
            "set": clip.set,
            "clip": clip.name,
            "rate_hz": rate,
            "secs": round(secs, 3),
            "ref": clip.text,
            "ref_words": len(ref),
        }
        order = MODELS if i % 2 == 0 else MODELS[::-1]
        for model in order:
            start = time.perf_counter()
            result = transcribers[model].transcribe(audio, tail_secs=TAIL_SECS)
            ms = (time.perf_counter() - start) * 1000
            dropped = not result.text or result.no_speech_prob > threshold
            hyp = "" if dropped else result.text
            row[model] = {
                "hyp": hyp,
                "errors": word_errors(ref, normalize(hyp)),
                "ms": round(ms, 1),
                "no_speech_prob": round(result.no_speech_prob, 3),
                "dropped": dropped,
            }
        rows.append(row)
        loads.append(os.getloadavg()[0])
        if (len(rows)) % 50 == 0:
            print(f"  {len(rows)} clips...", file=sys.stderr)

    sets = sorted({r["set"] for r in rows})
    summary = summaries(rows)

    print(f"\nload average during the run: {min(loads):.2f}-{max(loads):.2f} (1-min)")
    print(
        f"{'set':16} {'model':8} {'utts':>5} {'exact':>5} {'words':>6} {'WER':>7} {'p50 ms':>7} "
        f"{'p90 ms':>7} {'max ms':>7} {'ms/audio s':>10}"
    )
    for name in [*sets, "all"]:
        for m in MODELS:
            s = summary[name][m]
            print(
                f"{name:16} {m:8} {s['utterances']:5d} {s['exact_utterances']:5d} "
                f"{s['ref_words']:6d} "
                f"{100 * s['wer']:6.2f}% {s['ms_p50']:7.0f} {s['ms_p90']:7.0f} "
                f"{s['ms_max']:7.0f} {s['ms_per_audio_sec']:10.1f}"
            )
        p = summary[name]["paired"]
        print(
            f"{'':16} base better on {p['base_fewer_errors']}, worse on "
            f"{p['base_more_errors']} utterances; base - tiny.en time per utterance: "
            f"p50 {p['ms_diff_p50']:+.0f} ms, p90 {p['ms_diff_p90']:+.0f} ms"
        )

    import ctranslate2
    import faster_whisper

    out = {
        "what": "Whisper tiny.en vs base through WhisperTranscriber.transcribe, whole utterances",
        "command": "python benchmarks/offline_stt.py"
        + (f" --limit {args.limit}" if args.limit else ""),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "config": {
            "models": {m: {"dir": str(stts[m].resolved_model_dir())} for m in MODELS},
            "language": "en",
            "decode": {**DECODE_OPTIONS, "tail_secs": TAIL_SECS},
            "no_speech_threshold": threshold,
            "threads": args.threads,
            "order": "interleaved per clip, first model alternating",
            "max_clip_secs": MAX_SECS,
            "skipped_longer": skipped,
            "resampling": "soxr HQ 8 kHz -> 16 kHz for the telephone set",
            "tuned_on_these_sets": "no (librivox+cards chose the loop guards earlier, for tiny)",
        },
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "ctranslate2": ctranslate2.__version__,
            "faster_whisper": faster_whisper.__version__,
            "load_avg_start_1_5_15": [round(x, 2) for x in load_start],
            "load_avg_end_1_5_15": [round(x, 2) for x in os.getloadavg()],
            "load_avg_1min_during": {
                "min": round(min(loads), 2),
                "mean": round(float(np.mean(loads)), 2),
                "max": round(max(loads), 2),
            },
        },
        "summary": summary,
        "utterances": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "offline_stt.json"
    path.write_text(json.dumps(out, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
