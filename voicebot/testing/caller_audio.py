"""Synthetic caller recordings: speech-like bursts at chosen times, silence between.

Each burst is a voiced sound shaped like speech: a gliding pitch, its harmonics weighted by
vowel formants that change every syllable, and a syllable-rate envelope. Both the energy VAD
(``vad="energy"``) and Silero, the default, hear these where they are placed, so tests can put
a pause of 300 ms or a barge-in at 2.1 s and know the bot heard the same thing. (A plain
harmonic tone is not speech to Silero: it stays silent.)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from voicebot.audio.wav import Pcm, write_wav

#: The first three formants (Hz) of a few vowels: /a/, /i/, /u/, /e/, /ae/, /o/.
VOWELS = np.array(
    [
        (730, 1090, 2440),
        (270, 2290, 3010),
        (300, 870, 2240),
        (530, 1840, 2480),
        (660, 1720, 2410),
        (570, 840, 2410),
    ],
    dtype=np.float64,
)
FORMANT_BANDWIDTHS = np.array([90.0, 110.0, 150.0])
SYLLABLE_SECS = 0.2


def utterance(
    duration_secs: float, sample_rate: int, *, pitch: float = 140.0, seed: int = 0
) -> np.ndarray:
    """A voiced, vowel-like burst (float samples, peak 0.4), the same for the same seed."""
    n = int(duration_secs * sample_rate)
    if n == 0:
        return np.zeros(0, dtype=np.float32)
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sample_rate
    f0 = pitch * (1.0 + 0.1 * np.sin(2 * np.pi * 0.5 * t + rng.uniform(0, 2 * np.pi)))
    phase = np.cumsum(f0) / sample_rate
    # Formants glide from one syllable's vowel to the next.
    pos = t / SYLLABLE_SECS
    index = np.floor(pos).astype(int)
    vowels = VOWELS[rng.integers(len(VOWELS), size=index[-1] + 2)]
    frac = (pos - index)[:, None]
    formants = vowels[index] * (1 - frac) + vowels[index + 1] * frac
    voice = np.zeros(n)
    top = min(4000.0, 0.45 * sample_rate)
    for k in range(1, int(top / pitch)):
        gain = np.sum(1.0 / (1.0 + ((k * f0[:, None] - formants) / FORMANT_BANDWIDTHS) ** 2), 1)
        voice += gain / np.sqrt(k) * np.sin(2 * np.pi * k * phase)
    syllables = 0.45 + 0.55 * np.sin(np.pi * (pos % 1.0)) ** 2
    fade = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.01)
    voice *= syllables * fade
    peak = float(np.abs(voice).max()) or 1.0
    return (0.4 * voice / peak).astype(np.float32)


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
        burst = utterance(dur, sample_rate, pitch=120.0 + 15.0 * i, seed=i)
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
