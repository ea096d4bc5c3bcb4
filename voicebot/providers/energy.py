"""An energy-threshold VAD: no model, deterministic, for clean audio and tests.

Silero tells speech from noise; this only tells loud from quiet. It exists so synthetic test
audio (tones) drives turn-taking exactly where the test put it, and so thousands of test
sessions cost nothing.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pipecat.audio.vad.vad_analyzer import VADAnalyzer, VADParams
from pydantic import Field

from voicebot.providers.base import BuildContext, VADProvider


class EnergyVADAnalyzer(VADAnalyzer):
    """Pipecat VAD analyzer that scores 20 ms windows by RMS level against a threshold."""

    def __init__(self, *, threshold: float = 0.02, params: VADParams | None = None):
        super().__init__(params=params)
        self._threshold = threshold

    def num_frames_required(self) -> int:
        return int(self.sample_rate * 0.02)

    def voice_confidence(self, buffer: bytes) -> float:
        samples = np.frombuffer(buffer, dtype=np.int16).astype(np.float32) / 32768.0
        if samples.size == 0:
            return 0.0
        rms = float(np.sqrt(np.mean(samples * samples)))
        return 1.0 if rms >= self._threshold else 0.0


class EnergyVAD(VADProvider):
    """Speech is any 20 ms window whose RMS level (0-1 full scale) reaches ``threshold``."""

    name: ClassVar[str] = "energy"

    threshold: float = Field(default=0.02, gt=0, lt=1)
    start_secs: float = Field(default=0.06, gt=0, le=2)
    stop_secs: float = Field(default=0.2, gt=0, le=5)

    def build(self, ctx: BuildContext) -> EnergyVADAnalyzer:
        return EnergyVADAnalyzer(
            threshold=self.threshold,
            params=VADParams(
                confidence=0.5, start_secs=self.start_secs, stop_secs=self.stop_secs, min_volume=0.0
            ),
        )
