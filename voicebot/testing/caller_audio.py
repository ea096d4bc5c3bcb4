"""Synthetic caller recordings: speech-like bursts at chosen times, silence between.

An energy VAD (``vad="energy"``) hears these exactly where they are placed, so tests can
put a pause of 300 ms or a barge-in at 2.1 s and know the bot heard the same thing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from voicebot.audio.wav import Pcm, write_wav


def utterance(duration_secs: float, sample_rate: int, *, pitch: float = 140.0) -> np.ndarray:
    """A voiced-sounding burst: a harmonic tone with a 4 Hz syllable envelope."""
    n = int(duration_secs * sample_rate)
    t = np.arange(n) / sample_rate
    voice = sum(np.sin(2 * np.pi * pitch * k * t) / k for k in (1, 2, 3, 4))
    syllables = 0.55 + 0.45 * np.abs(np.sin(2 * np.pi * 2.0 * t))
    fade = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.01) if n else t
    return (0.25 * voice * syllables * fade).astype(np.float32)


def caller_recording(
    utterances: Sequence[tuple[float, float]],
    *,
    total_secs: float | None = None,
    sample_rate: int = 16000,
) -> Pcm:
    """A recording with a burst for each ``(start_secs, duration_secs)``."""
    end = max((s + d for s, d in utterances), default=0.0)
    total = total_secs if total_secs is not None else end + 1.0
    audio = np.zeros(int(total * sample_rate), dtype=np.float32)
    for i, (start, dur) in enumerate(utterances):
        burst = utterance(dur, sample_rate, pitch=120.0 + 15.0 * i)
        a = int(start * sample_rate)
        audio[a : a + len(burst)] += burst[: len(audio) - a]
    ints = np.clip(audio * 32767, -32768, 32767).astype(np.int16)
    return Pcm(ints, sample_rate)


def write_caller_wav(
    path: str | Path,
    utterances: Sequence[tuple[float, float]],
    *,
    total_secs: float | None = None,
    sample_rate: int = 16000,
) -> Path:
    path = Path(path)
    write_wav(path, caller_recording(utterances, total_secs=total_secs, sample_rate=sample_rate))
    return path
