"""How much near-silence Piper puts before a reply's first sound, as made and as voicebot sends it.

A reply's first piece of text (the first clause, ``voicebot.text.clauses``) goes to Piper
alone, and the caller waits for its first audible sample. Piper opens every utterance with
a lead-in of near-silence; ``LocalPiperTTSService`` cuts a reply's first piece's lead-in to
``LEAD_KEEP_SECS`` (``voicebot.providers.local.piper.trim_lead``). This synthesizes typical
first pieces (written for this, not taken from any test set), ``--repeats`` times each
(Piper's output varies run to run), and reports the time to the first sample louder than
``SILENT_LEVEL`` before and after the cut: the difference is how much sooner the caller
hears the reply start.

    .venv/bin/python benchmarks/piper_lead.py [--repeats 3]
    # prints a table, writes results/piper_lead.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
from pathlib import Path

import numpy as np

from voicebot.providers.local.piper import (
    DEFAULT_VOICE,
    LEAD_KEEP_SECS,
    SILENT_LEVEL,
    PiperTTS,
    trim_lead,
)

RESULTS = Path(__file__).resolve().parent / "results"

#: First pieces as the clause rules cut them: short openings of replies a voice bot gives.
PIECES = [
    "Mr. John Dashwood's power to do",
    "Sure, I can help with that.",
    "The queen of clubs.",
    "We're open from nine",
    "Hello! How can I help you today?",
    "I'm sorry, I didn't catch that.",
    "Yes,",
    "Okay, let me check.",
    "Thanks for calling",
    "Your appointment is booked for Friday.",
    "It looks like your parcel",
    "Of course.",
]


def lead_ms(pcm: bytes, rate: int) -> float:
    samples = np.abs(np.frombuffer(pcm, dtype="<i2").astype(np.int32))
    loud = np.flatnonzero(samples > SILENT_LEVEL)
    return 1000 * float(loud[0]) / rate if loud.size else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="syntheses per piece")
    parser.add_argument("--out", type=Path, default=RESULTS / "piper_lead.json")
    opts = parser.parse_args()
    if opts.repeats < 1:
        parser.error("--repeats must be >= 1")
    voice = PiperTTS().voice()
    rate = voice.config.sample_rate
    rows = []
    print(f"{'first piece':40} {'Piper lead-in (ms)':>20} {'sent (ms)':>10}")
    for text in PIECES:
        made, sent = [], []
        for _ in range(opts.repeats):
            pcm = b"".join(c.audio_int16_bytes for c in voice.synthesize(text))
            made.append(lead_ms(pcm, rate))
            sent.append(lead_ms(trim_lead(pcm, rate), rate))
        rows.append({"text": text, "piper_lead_ms": made, "sent_lead_ms": sent})
        print(f"{text[:40]:40} {statistics.median(made):20.1f} {statistics.median(sent):10.1f}")
    made_all = [statistics.median(r["piper_lead_ms"]) for r in rows]
    sent_all = [statistics.median(r["sent_lead_ms"]) for r in rows]
    saved = [m - s for m, s in zip(made_all, sent_all, strict=True)]
    print(
        f"median over pieces: Piper {statistics.median(made_all):.1f} ms, sent "
        f"{statistics.median(sent_all):.1f} ms; first sound sooner by "
        f"{statistics.median(saved):.1f} ms (p50), {min(saved):.1f}-{max(saved):.1f} ms"
    )
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    opts.out.write_text(
        json.dumps(
            {
                "config": {
                    "voice": DEFAULT_VOICE,
                    "sample_rate": rate,
                    "silent_level": SILENT_LEVEL,
                    "lead_keep_secs": LEAD_KEEP_SECS,
                    "repeats": opts.repeats,
                    "python": platform.python_version(),
                    "cpus": os.cpu_count(),
                    "loadavg": os.getloadavg(),
                },
                "pieces": rows,
                "median_saved_ms": round(statistics.median(saved), 1),
            },
            indent=1,
        )
    )
    print(f"wrote {opts.out}")


if __name__ == "__main__":
    main()
