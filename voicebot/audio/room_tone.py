"""Room tone: noise at the level of a recording's last moments, standing in for quiet to come.

Work started inside a caller's pause (``PauseWatch``) hears the words so far but not the
quiet the VAD still has to wait through before it calls speech over. Models trained on
utterances followed by real quiet (Whisper, smart-turn) judge the words with that quiet
stood in for by noise at the level of the words' last 64 ms better than with digital
silence: Whisper repeated itself less (``python benchmarks/early_transcripts.py --pad``,
docs/offline.md, "Transcribing at the pause"). Work done early is used at the stop only if
what came after it was quiet (``is_quiet``): speech the pause watch missed must be heard.
"""

from __future__ import annotations

import math

import numpy as np

#: The stretch at the end of the words whose level the room tone takes.
TONE_SAMPLE_SECS = 0.064

#: Audio after the early words louder than this many times their tail (or than the floor,
#: about -40 dBFS) in any 20 ms is speech the pause watch missed: the early one is not used.
LOUDER = 4.0
FLOOR = 330.0


def tail_level(pcm: bytes, bytes_per_sec: int) -> float:
    """RMS (16-bit units) of ``pcm``'s last 64 ms."""
    tail = np.frombuffer(pcm[-int(TONE_SAMPLE_SECS * bytes_per_sec) // 2 * 2 :], np.int16)
    return math.sqrt(float(np.mean(tail.astype(np.float64) ** 2))) if len(tail) else 0.0


def room_tone(pcm: bytes, secs: float, bytes_per_sec: int) -> bytes:
    """``secs`` of noise (16-bit) at the RMS level of ``pcm``'s last 64 ms; seeded, so a
    segment always gets the same transcript."""
    n = int(secs * bytes_per_sec / 2)
    if n <= 0:
        return b""
    level = tail_level(pcm, bytes_per_sec)
    noise = np.random.default_rng(0).normal(0.0, level, n)
    return np.clip(noise, -32768, 32767).astype("<i2").tobytes()


def is_quiet(pcm: bytes, level: float, bytes_per_sec: int) -> bool:
    """No 20 ms of ``pcm`` louder than ``LOUDER`` x ``level`` (or ``FLOOR``)."""
    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], np.int16).astype(np.float64)
    window = max(1, bytes_per_sec // 100)  # 20 ms of 16-bit samples
    n = len(samples) // window
    if n == 0:
        return True
    rms = np.sqrt((samples[: n * window].reshape(n, window) ** 2).mean(axis=1))
    return bool(rms.max() <= max(LOUDER * level, FLOOR))
