"""A TTS that speaks a tone: deterministic audio, a set time to first byte, no vendor."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from typing import ClassVar

import numpy as np
from pipecat.frames.frames import Frame
from pipecat.services.settings import TTSSettings
from pipecat.services.tts_service import TTSService
from pydantic import Field

from voicebot.pipecat_compat import stream_audio_frames
from voicebot.providers.base import BuildContext, TTSProvider

CHUNK_SECS = 0.02


def tone(duration_secs: float, sample_rate: int, *, freq: float = 220.0) -> bytes:
    """A sine at a third of full scale with 5 ms fades, as 16-bit PCM."""
    n = max(1, int(duration_secs * sample_rate))
    t = np.arange(n) / sample_rate
    wave = 0.33 * np.sin(2 * np.pi * freq * t)
    fade = min(n // 2, int(0.005 * sample_rate))
    if fade:
        ramp = np.linspace(0.0, 1.0, fade)
        wave[:fade] *= ramp
        wave[-fade:] *= ramp[::-1]
    return (wave * 32767).astype("<i2").tobytes()


class ToneTTSService(TTSService):
    """Pipecat TTS service: each sentence becomes ``secs_per_char`` of tone per character,
    the first chunk after ``ttfb_secs``, the rest as fast as they are read (like a vendor
    streaming faster than real time)."""

    def __init__(self, *, ttfb_secs: float = 0.1, secs_per_char: float = 0.05, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(
            push_start_frame=True,
            push_stop_frames=True,
            settings=TTSSettings(model="tone", voice="tone", language=None),
            **kwargs,
        )
        self._ttfb = ttfb_secs
        self._secs_per_char = secs_per_char
        self.spoken: list[str] = []

    def can_generate_metrics(self) -> bool:
        return True

    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame, None]:
        self.spoken.append(text)
        rate = self.sample_rate
        audio = tone(len(text.strip()) * self._secs_per_char, rate)
        step = int(rate * CHUNK_SECS) * 2

        async def chunks() -> AsyncIterator[bytes]:
            await asyncio.sleep(self._ttfb)
            for i in range(0, len(audio), step):
                yield audio[i : i + step]

        async for frame in stream_audio_frames(
            self, chunks(), in_sample_rate=rate, context_id=context_id
        ):
            await self.stop_ttfb_metrics()
            yield frame


class FakeTTS(TTSProvider):
    """Speaks a 220 Hz tone, ``secs_per_char`` per character, first audio after ``ttfb_secs``."""

    name: ClassVar[str] = "fake"

    ttfb_secs: float = Field(default=0.1, ge=0)
    secs_per_char: float = Field(default=0.05, gt=0)
    sample_rate: int | None = None

    def build(self, ctx: BuildContext) -> ToneTTSService:
        return ToneTTSService(
            ttfb_secs=self.ttfb_secs, secs_per_char=self.secs_per_char, sample_rate=self.sample_rate
        )
