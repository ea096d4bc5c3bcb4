"""FreJun Teler media streams: a frame serializer written from Teler's protocol, and the
``Teler`` transport.

Teler → bot: ``{"type": "start", "call_id", "stream_id", "data": {"encoding": "audio/l16",
"sample_rate": 8000, "channels": 1}}`` first, then ``{"type": "audio", "data": {"audio_b64":
...}}`` (16-bit linear PCM at 8 kHz, base64). Bot → Teler: ``{"type": "audio", "data":
{"audio_b64": ..., "chunk_id": N}}`` (queued and played in order), ``{"type": "clear"}`` (wipes
the queue: a barge-in) and ``{"type": "interrupt", "chunk_id": N}`` (drops one chunk). FreJun's
own bridge puts ``audio_b64``/``chunk_id`` at the top level instead of under ``data``, so both
are read, and ``envelope="top"`` sends that shape. Teler documents no DTMF, no stop message
and no playback acknowledgement: it closes the socket when the call ends.
"""

from __future__ import annotations

import base64
import json
from typing import Any, ClassVar, Literal

from pipecat.frames.frames import AudioRawFrame, Frame, InputAudioRawFrame, InterruptionFrame
from pipecat.processors.frame_processor import FrameProcessorSetup
from pipecat.serializers.base_serializer import FrameSerializer

from voicebot.providers.base import BuildContext
from voicebot.transports.phone.base import PhoneCall, PhoneTransport
from voicebot.transports.phone.pcm import LineCodec, b64

Envelope = Literal["data", "top"]


class TelerFrameSerializer(FrameSerializer):
    """Teler's messages ↔ Pipecat frames; never raises on what Teler (or anyone) sends.

    ``envelope``: where outgoing ``audio_b64``/``chunk_id`` go, under ``data`` (Teler's
    documentation) or at the top level (FreJun's bridge). ``sample_rate``: the line's rate.
    """

    def __init__(self, *, envelope: Envelope = "data", sample_rate: int = 8000) -> None:
        super().__init__(FrameSerializer.InputParams())
        self.envelope = envelope
        self.codec = LineCodec("pcm16", sample_rate)
        self.rate = 0  # the pipeline's input rate, from setup
        self.chunk_id = 0  # of the last chunk sent

    async def setup(self, setup: FrameProcessorSetup) -> None:  # type: ignore[override]
        self.rate = setup.audio_in_sample_rate

    async def serialize(self, frame: Frame) -> str | bytes | None:
        if isinstance(frame, InterruptionFrame):
            return json.dumps({"type": "clear"})
        if isinstance(frame, AudioRawFrame):
            audio = await self.codec.encode(frame.audio, frame.sample_rate)
            if not audio:
                return None
            self.chunk_id += 1
            fields = {"audio_b64": base64.b64encode(audio).decode(), "chunk_id": self.chunk_id}
            if self.envelope == "top":
                return json.dumps({"type": "audio", **fields})
            return json.dumps({"type": "audio", "data": fields})
        return None

    async def deserialize(self, data: str | bytes) -> Frame | None:
        try:
            message = json.loads(data)
        except (ValueError, RecursionError):
            return None
        if not isinstance(message, dict) or message.get("type") != "audio":
            return None
        body: Any = message.get("data")
        audio = b64(body.get("audio_b64")) if isinstance(body, dict) else None
        audio = audio or b64(message.get("audio_b64"))
        if not audio or not self.rate:
            return None
        pcm = await self.codec.decode(audio, self.rate)
        if not pcm:
            return None
        return InputAudioRawFrame(audio=pcm, sample_rate=self.rate, num_channels=1)


class Teler(PhoneTransport):
    """Answer FreJun Teler calls streamed to ``voicebot serve`` (``/phone/ws/teler``).

    The Call Flow answers Teler with a ``stream`` action pointing at the server
    (docs/telephony.md). The bot hangs up by closing the stream [Teler documents only the
    opposite direction]. ``envelope``: see ``TelerFrameSerializer``.
    """

    name: ClassVar[str] = "teler"
    carrier: ClassVar[str] = "teler"

    envelope: Envelope = "data"

    def output_rate(self, call: PhoneCall) -> int:
        return call.sample_rate if call.sample_rate in (8000, 16000) else 8000

    def serializer(self, ctx: BuildContext, call: PhoneCall) -> FrameSerializer:
        return TelerFrameSerializer(envelope=self.envelope, sample_rate=self.output_rate(call))
