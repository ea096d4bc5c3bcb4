"""Whisper with the bot's last words as its "previous text": does the caller's reply come out
righter, and does a prompt that has nothing to do with the reply make it worse?

Whisper was trained to continue a transcript: the text before a window, given as a prompt,
makes the words it expects likelier. On a call the text before the caller's turn is what the
bot just said. Each clip is transcribed by the bot's decoder (``WhisperTranscriber``, Whisper
base) twice, with no prompt and with the bot's line as ``expect=``, after going through
Pipecat's Silero VAD as the pipeline cuts it (1 s of faint noise on each side, each VAD
segment from 1 s before the VAD's start to its stop; ``whisper_decode_options.segments``).

Sets:
- ``--dialogues <file>``: pairs of a bot line and the caller's reply (text), the reply
  spoken by the Piper voice and by espeak-ng; the prompt is the pair's own bot line. The
  benefit, on synthetic voices.
- ``--set offline_stt`` / ``--set subfolders``: real recorded speech (offline_stt's 346
  LibriVox, card and telephone clips; Asterisk's 185 subfolder prompts), each prompted with a
  bot line from the dialogues file that has nothing to do with it (drawn with a fixed seed).
  The harm: a prompt the words do not follow, and prompt words leaking into the transcript.

"leaks": clips whose prompted transcript has a run of three words from the prompt that the
reference does not have (and the unprompted one does not). WER as in offline_stt.

    python benchmarks/stt_context.py --dialogues benchmarks/stt_dialogues.json
    python benchmarks/stt_context.py --set offline_stt --dialogues benchmarks/stt_dialogues.json
    python benchmarks/stt_context.py --set subfolders --dialogues benchmarks/stt_dialogues.json

Needs Debian's ``espeak-ng`` (dialogues) or ``pocketsphinx-testdata`` and
``asterisk-core-sounds-en-wav`` (the real sets). Writes
``benchmarks/results/stt_context_<set>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import save, table, word_errors  # noqa: E402
from benchmarks.early_transcripts import subfolder_clips  # noqa: E402
from benchmarks.offline_stt import MAX_SECS, load, normalize, sphinx_clips, telephone_clips  # noqa: E402
from benchmarks.whisper_decode_options import segments  # noqa: E402

RATE = 16000
PREROLL = 1.0  # Pipecat's SegmentedSTTService
VARIANTS = ("none", "previous")
SEED = 22


def espeak(text: str) -> np.ndarray:
    from voicebot.audio import read_wav

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "e.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "165", "-w", str(path), text], check=True)
        x = read_wav(path, RATE).samples.astype(np.float32) / 32768
    return x / max(1e-3, float(np.max(np.abs(x)))) * 0.6


def piper_voice(piper: Any, text: str) -> np.ndarray:
    from voicebot.audio.wav import resample

    audio = b"".join(c.audio_int16_bytes for c in piper.synthesize(text))
    x = np.frombuffer(audio, dtype=np.int16).astype(np.float32) / 32768
    return resample(x, piper.config.sample_rate, RATE).astype(np.float32)


def leaked(prompt: str, ref: list[str], hyp: list[str]) -> bool:
    said = normalize(prompt)
    runs = {tuple(said[i : i + 3]) for i in range(len(said) - 2)}
    refs = {tuple(ref[i : i + 3]) for i in range(len(ref) - 2)}
    return any(tuple(hyp[i : i + 3]) in runs - refs for i in range(len(hyp) - 2))


def clips_for(args: argparse.Namespace, pairs: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Each clip: name, reference, prompt, audio (float32, 16 kHz)."""
    out: list[dict[str, Any]] = []
    if args.set == "dialogues":
        from voicebot.providers.local.piper import PiperTTS

        piper = PiperTTS().voice()
        for i, pair in enumerate(pairs[: args.limit]):
            for voice, speak in (("piper", lambda t: piper_voice(piper, t)), ("espeak", espeak)):
                out.append(
                    {
                        "clip": f"{i:02d}-{voice}",
                        "voice": voice,
                        "ref": pair["caller"],
                        "prompt": pair["bot"],
                        "audio": speak(pair["caller"]),
                    }
                )
        return out
    real = sphinx_clips() + telephone_clips() if args.set == "offline_stt" else subfolder_clips()
    rng = np.random.default_rng(SEED)
    for clip in real[: args.limit]:
        audio, _ = load(clip)
        if len(audio) > MAX_SECS * RATE:
            continue  # as offline_stt: a VAD-cut turn, not a long recording
        bot = pairs[int(rng.integers(len(pairs)))]["bot"]
        out.append(
            {
                "clip": clip.name,
                "voice": "recorded",
                "ref": clip.text,
                "prompt": bot,
                "audio": audio,
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dialogues", type=Path, required=True)
    parser.add_argument(
        "--set", default="dialogues", choices=["dialogues", "offline_stt", "subfolders"]
    )
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--name", default=None)
    args = parser.parse_args()
    pairs = json.loads(args.dialogues.read_text())["pairs"]

    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    from voicebot.providers.local.whisper import DECODE_OPTIONS, WhisperSTT

    stt = WhisperSTT(model="base")
    transcriber = stt.transcriber()
    clips = clips_for(args, pairs)
    rng = np.random.default_rng(0)
    load_before = os.getloadavg()
    rows: list[dict[str, Any]] = []
    for n, clip in enumerate(clips):
        noise = [(rng.standard_normal(RATE) * (10 / 32768)).astype(np.float32) for _ in "ab"]
        padded = np.concatenate([noise[0], clip["audio"], noise[1]])
        cuts = asyncio.run(segments(padded))
        if not cuts:
            continue
        reference = normalize(clip["ref"])
        row = {k: clip[k] for k in ("clip", "voice", "ref", "prompt")} | {
            "ref_words": len(reference)
        }
        order = VARIANTS if n % 2 == 0 else VARIANTS[::-1]  # alternate who goes first
        for variant in order:
            texts, last, secs = [], 0, 0.0
            for start, stop in cuts:
                piece = padded[max(last, start - int(PREROLL * RATE)) : stop]
                hint = {"context": clip["prompt"]} if variant == "previous" else {}
                began = time.perf_counter()
                texts.append(transcriber.transcribe(piece, **hint).text)
                secs += time.perf_counter() - began
                last = stop
            text = " ".join(texts)
            row[variant] = {
                "text": text,
                "errors": word_errors(reference, normalize(text)),
                "secs": secs,
            }
        row["leak"] = leaked(
            clip["prompt"], reference, normalize(row["previous"]["text"])
        ) and not leaked(clip["prompt"], reference, normalize(row["none"]["text"]))
        rows.append(row)
        if len(rows) % 50 == 0:
            print(f"  {len(rows)} clips...", file=sys.stderr)

    summary: dict[str, Any] = {}
    lines = []
    for voice in [*sorted({r["voice"] for r in rows}), "all"]:
        part = [r for r in rows if voice in ("all", r["voice"])]
        words = sum(r["ref_words"] for r in part)
        for variant in VARIANTS:
            times = sorted(r[variant]["secs"] for r in part)
            s = {
                "clips": len(part),
                "wer": sum(r[variant]["errors"] for r in part) / max(1, words),
                "exact": sum(r[variant]["errors"] == 0 for r in part),
                "p50_ms": 1000 * times[len(times) // 2],
                "p90_ms": 1000 * times[int(0.9 * len(times))],
            }
            if variant == "previous":
                s["better"] = sum(r["previous"]["errors"] < r["none"]["errors"] for r in part)
                s["worse"] = sum(r["previous"]["errors"] > r["none"]["errors"] for r in part)
                s["leaks"] = sum(r["leak"] for r in part)
            summary[f"{voice}/{variant}"] = s
            extra = f"{s['better']}/{s['worse']}/{s['leaks']}" if variant == "previous" else "-"
            lines.append(
                [voice, variant, f"{100 * s['wer']:.2f} %", f"{s['exact']}/{len(part)}",
                 f"{s['p50_ms']:.0f}", f"{s['p90_ms']:.0f}", extra]
            )  # fmt: skip
    headers = ["voice", "prompt", "WER", "exact", "p50 ms", "p90 ms", "better/worse/leaks"]
    print(table(headers, lines, title=f"set {args.set}"))
    path = save(
        args.name or f"stt_context_{args.set}",
        {
            "command": "python benchmarks/stt_context.py " + " ".join(sys.argv[1:]),
            "config": {
                "stt": f"Whisper base, bot decoder {DECODE_OPTIONS}",
                "threads": stt.threads,
                "vad": "pipecat SileroVADAnalyzer, default VADParams, 20 ms chunks",
                "preroll_secs": PREROLL,
                "set": args.set,
                "dialogues": str(args.dialogues),
                "prompt_seed": SEED,
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
