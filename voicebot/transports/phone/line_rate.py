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

It also hands the audio on in frames of ``frame_secs`` (20 ms messages joined in pairs by
default: ``PhoneTransport.input_frame_secs``), since the pipeline's cost is per frame.
"""

from __future__ import annotations

import copy

from pipecat.frames.frames import Frame, InputAudioRawFrame
from pipecat.processors.frame_processor import FrameProcessorSetup
from pipecat.serializers.base_serializer import FrameSerializer

from voicebot.audio.upsample import StreamUpsampler


class LineRateSerializer(FrameSerializer):
    """``inner``, reading the line at ``line_rate``, with its input audio upsampled here."""

    def __init__(self, inner: FrameSerializer, *, line_rate: int, frame_secs: float = 0.02) -> None:
        super().__init__(FrameSerializer.InputParams())
        self.inner = inner
        self.line_rate = line_rate
        self.frame_secs = frame_secs
        self.upsampler: StreamUpsampler | None = None
        self._pending = b""  # the caller's audio not yet handed on (under a frame)
        self._pending_rate = 0

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
        if not isinstance(frame, InputAudioRawFrame) or frame.num_channels != 1:
            return frame
        audio, rate = frame.audio, frame.sample_rate
        up = self.upsampler
        if up is not None and rate == self.line_rate:
            audio, rate = up.process(audio), up.out_rate
        if rate != self._pending_rate:  # never join audio of two rates
            self._pending, self._pending_rate = b"", rate
        self._pending += audio
        if len(self._pending) < 2 * round(rate * self.frame_secs):
            return None
        audio, self._pending = self._pending, b""
        return InputAudioRawFrame(audio=audio, sample_rate=rate, num_channels=1)
