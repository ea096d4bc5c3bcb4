"""Where speech is in a recording, found from the audio alone.

Used to read latency off a pair of files (caller's input, bot's output) without trusting
anything the bot reported about itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from voicebot.audio.wav import Pcm


@dataclass(frozen=True)
class Segment:
    start: float  # seconds
    end: float


def speech_segments(
    pcm: Pcm,
    *,
    threshold: float = 0.02,
    window_secs: float = 0.02,
    min_gap_secs: float = 0.5,
    min_speech_secs: float = 0.08,
) -> list[Segment]:
    """Stretches whose RMS level reaches ``threshold``; gaps shorter than ``min_gap_secs``
    (pauses inside an utterance) are bridged, blips shorter than ``min_speech_secs`` dropped."""
    win = max(1, int(pcm.sample_rate * window_secs))
    n = len(pcm.samples) // win
    if n == 0:
        return []
    frames = pcm.samples[: n * win].astype(np.float32).reshape(n, win) / 32768.0
    loud = np.sqrt(np.mean(frames * frames, axis=1)) >= threshold
    segments: list[Segment] = []
    start = None
    for i, on in enumerate(loud):
        if on and start is None:
            start = i
        elif not on and start is not None:
            segments.append(Segment(start * window_secs, i * window_secs))
            start = None
    if start is not None:
        segments.append(Segment(start * window_secs, n * window_secs))
    merged: list[Segment] = []
    for seg in segments:
        if merged and seg.start - merged[-1].end < min_gap_secs:
            merged[-1] = Segment(merged[-1].start, seg.end)
        else:
            merged.append(seg)
    return [s for s in merged if s.end - s.start >= min_speech_secs]
