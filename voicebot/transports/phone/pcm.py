"""A generic media-stream WebSocket: any product (a PBX bridge, your own gateway) that can
send and receive raw audio over a WebSocket talks to the bot with this small protocol.

Client → bot (every message optional but audio):

- ``{"event": "start", "call_id": "...", "from": "+1...", "to": "+1...",
  "encoding": "pcm16" | "mulaw" | "alaw", "sample_rate": 8000, "format": "binary" | "json"}``
  as the first message says what follows; without it the server's ``PhoneWebSocket``
  settings apply (16-bit PCM at 8 kHz, binary, by default);
- audio: binary messages of raw audio in that encoding (any length; 20 ms is usual), or
  ``{"event": "media", "payload": "<base64>"}``;
- ``{"event": "dtmf", "digit": "5"}``: a key press (0-9, *, #);
- ``{"event": "stop"}`` or closing the socket: the caller hung up.

Bot → client: the bot's audio in the same encoding and rate, as binary messages (or
``{"event": "media", "payload": ...}`` with ``"format": "json"``); ``{"event": "clear"}`` when
the caller barged in (drop what is buffered and not yet played); ``{"event": "stop"}`` and a
close when the bot hangs up.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, ClassVar, Literal

from pipecat.audio.dtmf.types import KeypadEntry
from pipecat.audio.utils import (
    alaw_to_pcm,
    create_stream_resampler,
    pcm_to_alaw,
    pcm_to_ulaw,
    ulaw_to_pcm,
)
from pipecat.frames.frames import (
    AudioRawFrame,
    CancelFrame,
    EndFrame,
    Frame,
    InputAudioRawFrame,
    InputDTMFFrame,
    InterruptionFrame,
)
from pipecat.processors.frame_processor import FrameProcessorSetup
from pipecat.serializers.base_serializer import FrameSerializer
from pydantic import Field

from voicebot.providers.base import BuildContext
from voicebot.transports.phone.base import PhoneCall, PhoneTransport

Encoding = Literal["pcm16", "mulaw", "alaw"]
ENCODINGS: tuple[str, ...] = ("pcm16", "mulaw", "alaw")
#: Rates a client may declare (what the resampler handles well).
SAMPLE_RATES: tuple[int, ...] = (8000, 16000, 24000, 48000)


class LineCodec:
    """Audio between the line (``encoding`` at ``line_rate``) and 16-bit PCM at any rate."""

    def __init__(self, encoding: str, line_rate: int) -> None:
        self.encoding = encoding
        self.line_rate = line_rate
        self._in = create_stream_resampler()
        self._out = create_stream_resampler()

    async def decode(self, data: bytes, rate: int) -> bytes:
        """Line audio as 16-bit PCM at ``rate`` (an odd trailing byte of PCM is dropped)."""
        if self.encoding == "mulaw":
            return bytes(await ulaw_to_pcm(data, self.line_rate, rate, self._in))
        if self.encoding == "alaw":
            return bytes(await alaw_to_pcm(data, self.line_rate, rate, self._in))
        data = data[: len(data) - len(data) % 2]
        return bytes(await self._in.resample(data, self.line_rate, rate)) if data else b""

    async def encode(self, pcm: bytes, rate: int) -> bytes:
        """16-bit PCM at ``rate`` as line audio."""
        if self.encoding == "mulaw":
            return bytes(await pcm_to_ulaw(pcm, rate, self.line_rate, self._out))
        if self.encoding == "alaw":
            return bytes(await pcm_to_alaw(pcm, rate, self.line_rate, self._out))
        return bytes(await self._out.resample(pcm, rate, self.line_rate))


def b64(value: Any) -> bytes | None:
    """Strictly decoded base64 text, or None for anything else."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def keypad(value: Any) -> InputDTMFFrame | None:
    """An ``InputDTMFFrame`` for a key name (``"5"``, ``"#"``), or None for anything else."""
    try:
        return InputDTMFFrame(KeypadEntry(value)) if isinstance(value, str) else None
    except ValueError:
        return None


class PCMFrameSerializer(FrameSerializer):
    """The generic protocol above; never raises on what a client sends."""

    def __init__(self, *, encoding: str = "pcm16", sample_rate: int = 8000, binary: bool = True):
        super().__init__(FrameSerializer.InputParams())
        self.codec = LineCodec(encoding, sample_rate)
        self.binary = binary
        self.rate = 0  # the pipeline's input rate, from setup

    async def setup(self, setup: FrameProcessorSetup) -> None:  # type: ignore[override]
        self.rate = setup.audio_in_sample_rate

    async def serialize(self, frame: Frame) -> str | bytes | None:
        if isinstance(frame, InterruptionFrame):
            return json.dumps({"event": "clear"})
        if isinstance(frame, (EndFrame, CancelFrame)):
            return json.dumps({"event": "stop"})
        if isinstance(frame, AudioRawFrame):
            audio = await self.codec.encode(frame.audio, frame.sample_rate)
            if not audio:
                return None
            if self.binary:
                return audio
            return json.dumps({"event": "media", "payload": base64.b64encode(audio).decode()})
        return None

    async def deserialize(self, data: str | bytes) -> Frame | None:
        if isinstance(data, bytes):
            return await self._audio(data)
        try:
            message = json.loads(data)
        except (ValueError, RecursionError):
            return None
        if not isinstance(message, dict):
            return None
        event = message.get("event")
        if event == "media":
            payload = b64(message.get("payload"))
            return await self._audio(payload) if payload else None
        if event == "dtmf":
            return keypad(message.get("digit"))
        return None

    async def _audio(self, data: bytes) -> Frame | None:
        if not self.rate:
            return None
        pcm = await self.codec.decode(data, self.rate)
        if not pcm:
            return None
        return InputAudioRawFrame(audio=pcm, sample_rate=self.rate, num_channels=1)


class PhoneWebSocket(PhoneTransport):
    """Answer calls from any media-stream product speaking the generic protocol above
    (``/phone/ws/pcm``). ``encoding``, ``sample_rate`` and ``binary`` apply when the client
    sends no ``start`` message saying otherwise."""

    name: ClassVar[str] = "pcm"
    carrier: ClassVar[str] = "pcm"
    binary_audio: ClassVar[bool] = True

    encoding: Encoding = "pcm16"
    sample_rate: int = Field(default=8000)
    binary: bool = True

    def output_rate(self, call: PhoneCall) -> int:
        rate = call.sample_rate if call.sample_rate in SAMPLE_RATES else self.sample_rate
        return rate or 8000

    def serializer(self, ctx: BuildContext, call: PhoneCall) -> FrameSerializer:
        encoding = call.encoding if call.encoding in ENCODINGS else self.encoding
        binary = call.params.get("format", "binary" if self.binary else "json") != "json"
        return PCMFrameSerializer(
            encoding=encoding or self.encoding, sample_rate=self.output_rate(call), binary=binary
        )
