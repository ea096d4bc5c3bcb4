"""Playback marks on the wire: a mark after every audio chunk, and the carrier's echoes.

``MarkingSerializer`` wraps a carrier's frame serializer. Each audio chunk the output
transport writes (40 ms at Pipecat's default) goes out as the carrier's media message
followed by a mark named ``vbN``; the carrier echoes the mark once the audio before it has
played, and the echo goes to the call's ``PlaybackMarks``
(``voicebot.processors.playback_marks``), which the heard-text stage reads. A ``clear`` (a
barge-in) tells them that what was sent will not all be played.

Why a mark per chunk: a chunk is the finest unit the transport writes, so a mark per chunk
confirms playback to within 40 ms (under a character of speech) and costs one ~70-byte
message each way per chunk, next to the 50 media messages a second the carrier sends anyway.
A coarser group would confirm the last words of a barge-in later than they played, and
drop them from the context.

Per carrier (their documentation; [unverified] where a live account was not tried):

- Twilio: ``{"event": "mark", "streamSid", "mark": {"name"}}``, echoed with the same shape
  when the audio before it has played; on ``clear`` the marks still queued are echoed at once.
- Telnyx: ``{"event": "mark", "stream_id", "mark": {"name"}}``, echoed likewise, queued marks
  at once on ``clear`` [unverified: the field layout follows Twilio's, as the AsyncAPI page's
  examples do].
- Plivo: ``{"event": "checkpoint", "streamId", "name"}``, answered with ``playedStream`` (a
  support article says ``played``: both are read) only if the audio before it played.
- FreJun Teler: no acknowledgement of any kind (``chunk_id`` only lets the app ``interrupt``
  one queued chunk): no marks; what was heard is the estimate from the audio sent.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from pipecat.frames.frames import AudioRawFrame, Frame, InterruptionFrame
from pipecat.processors.frame_processor import FrameProcessorSetup
from pipecat.serializers.base_serializer import FrameSerializer

from voicebot.processors.playback_marks import PlaybackMarks

Send = Callable[[str | bytes], Awaitable[None]]


class MarkProtocol:
    """How one carrier is asked to confirm playback and how it answers."""

    #: Text every echo contains, checked before parsing a message as JSON (most are media).
    needle: str = '"mark"'

    def __init__(self, stream_id: str) -> None:
        self.stream_id = stream_id

    def mark(self, name: str) -> str:
        raise NotImplementedError

    def echo(self, message: dict[str, Any]) -> str | None:
        """The mark name an echo carries, or None if ``message`` is no echo."""
        mark = message.get("mark") if message.get("event") == "mark" else None
        name = mark.get("name") if isinstance(mark, dict) else None
        return name if isinstance(name, str) else None


class TwilioMarks(MarkProtocol):
    def mark(self, name: str) -> str:
        return json.dumps({"event": "mark", "streamSid": self.stream_id, "mark": {"name": name}})


class TelnyxMarks(MarkProtocol):
    def mark(self, name: str) -> str:
        return json.dumps({"event": "mark", "stream_id": self.stream_id, "mark": {"name": name}})


class PlivoCheckpoints(MarkProtocol):
    needle = "played"

    def mark(self, name: str) -> str:
        return json.dumps({"event": "checkpoint", "streamId": self.stream_id, "name": name})

    def echo(self, message: dict[str, Any]) -> str | None:
        if message.get("event") not in ("playedStream", "played"):
            return None
        name = message.get("name")
        return name if isinstance(name, str) else None


def websocket_sender(websocket: Any) -> Send:
    """Send on a Starlette WebSocket while it is open (what Pipecat's client checks too)."""
    from starlette.websockets import WebSocketState

    async def send(data: str | bytes) -> None:
        if (
            websocket.client_state != WebSocketState.CONNECTED
            or websocket.application_state == WebSocketState.DISCONNECTED
        ):
            return
        if isinstance(data, bytes):
            await websocket.send_bytes(data)
        else:
            await websocket.send_text(data)

    return send


class MarkingSerializer(FrameSerializer):
    """``inner`` with a mark sent after each audio chunk and the echoes read (see above).

    A serializer returns one message per frame, so the media message and its mark are sent
    here, in order, with ``send``, and nothing is returned for the transport to send (Pipecat
    counts the frame as taken and paces on). Errors propagate to the ``GuardedSerializer``
    around it.
    """

    def __init__(
        self, inner: FrameSerializer, *, protocol: MarkProtocol, marks: PlaybackMarks, send: Send
    ) -> None:
        super().__init__(FrameSerializer.InputParams())
        self.inner = inner
        self.protocol = protocol
        self.marks = marks
        self.send = send

    async def setup(self, setup: FrameProcessorSetup) -> None:  # type: ignore[override]
        await self.inner.setup(setup)

    async def serialize(self, frame: Frame) -> str | bytes | None:
        if isinstance(frame, InterruptionFrame):
            await self.marks.clear()  # before the clear goes: later echoes mean nothing
        payload = await self.inner.serialize(frame)
        if payload and isinstance(frame, AudioRawFrame):
            await self.send(payload)
            await self.send(self.protocol.mark(self.marks.next_mark()))
            return None
        return payload

    async def deserialize(self, data: str | bytes) -> Frame | None:
        if isinstance(data, str) and self.protocol.needle in data:
            try:
                message = json.loads(data)
            except (ValueError, RecursionError):
                message = None
            name = self.protocol.echo(message) if isinstance(message, dict) else None
            if name is not None:
                await self.marks.echoed(name)
                return None
        return await self.inner.deserialize(data)
