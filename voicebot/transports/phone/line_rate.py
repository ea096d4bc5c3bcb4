"""The caller's audio from the line's rate up to the pipeline's, without soxr's block delay.

Every carrier serializer (Pipecat's Twilio, Telnyx, Plivo and Exotel; voicebot's Teler and
generic socket) resamples the caller's 8 kHz audio to the pipeline's input rate with soxr's
stream resampler, which hands 20 ms chunks on in bursts, 17-131 ms late (~64 ms on average at
8 → 16 kHz). The VAD then hears the caller stop that much later, and every reply starts that
much later for the caller: most of the phone path's cost before this wrapper (docs/telephony.md,
"Latency of the phone path").

``LineRateSerializer`` sets the serializer it wraps up at the line's rate, so it resamples
nothing, and upsamples the audio it reads with ``StreamUpsampler`` (~3 ms). A pipeline rate
that is not a whole multiple of the line's leaves the inner serializer to resample, as before.
"""

from __future__ import annotations

import copy

from pipecat.frames.frames import Frame, InputAudioRawFrame
from pipecat.processors.frame_processor import FrameProcessorSetup
from pipecat.serializers.base_serializer import FrameSerializer

from voicebot.audio.upsample import StreamUpsampler


class LineRateSerializer(FrameSerializer):
    """``inner``, reading the line at ``line_rate``, with its input audio upsampled here."""

    def __init__(self, inner: FrameSerializer, *, line_rate: int) -> None:
        super().__init__(FrameSerializer.InputParams())
        self.inner = inner
        self.line_rate = line_rate
        self.upsampler: StreamUpsampler | None = None

    async def setup(self, setup: FrameProcessorSetup) -> None:  # type: ignore[override]
        rate = setup.audio_in_sample_rate
        if self.upsampler is None and StreamUpsampler.supports(self.line_rate, rate):
            self.upsampler = StreamUpsampler(self.line_rate, rate)
        if self.upsampler is not None:
            # A copy, not dataclasses.replace: that reads every field, and reading the
            # deprecated ``tool_resources`` warns.
            setup = copy.copy(setup)
            setup.audio_in_sample_rate = self.line_rate
        await self.inner.setup(setup)

    async def serialize(self, frame: Frame) -> str | bytes | None:
        return await self.inner.serialize(frame)

    async def deserialize(self, data: str | bytes) -> Frame | None:
        frame = await self.inner.deserialize(data)
        up = self.upsampler
        if (
            up is not None
            and isinstance(frame, InputAudioRawFrame)
            and frame.sample_rate == self.line_rate
            and frame.num_channels == 1
        ):
            return InputAudioRawFrame(
                audio=up.process(frame.audio), sample_rate=up.out_rate, num_channels=1
            )
        return frame
