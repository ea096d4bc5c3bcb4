"""A seatbelt around a carrier's frame serializer: bad input is one log line, never a dead call.

Pipecat's telephony serializers assume a well-behaved carrier: a message that is not a JSON
object, a payload that is not base64 or an odd number of PCM bytes raises out of
``deserialize``, and ``FastAPIWebsocketTransport`` then stops reading the socket, so one bad
message ends the call. ``GuardedSerializer`` wraps any serializer so that every message is
checked first (size, JSON object) and anything the inner serializer raises is caught: the
first problem of each kind is logged once, later ones are counted and summed up when the call
ends. It also notes when the carrier last sent anything (for the silence watchdog) and turns
the carrier's ``stop`` message into a hang-up, so a caller who hangs up ends the session even
if the carrier is slow to close the socket.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from loguru import logger
from pipecat.frames.frames import CancelFrame, EndFrame, Frame
from pipecat.processors.frame_processor import FrameProcessorSetup
from pipecat.serializers.base_serializer import FrameSerializer

#: The largest message read from a carrier (bytes). A 20 ms media message is ~300 bytes, a
#: second of 16 kHz PCM in one binary frame 32 kB; anything far beyond is not audio.
MAX_MESSAGE_BYTES = 256 * 1024


class GuardedSerializer(FrameSerializer):
    """``inner`` with bad carrier input logged once per kind and dropped, not raised.

    ``binary_audio``: binary messages are raw audio for ``inner`` (the generic PCM socket),
    passed on unchecked; otherwise every message must be a JSON object.
    ``on_hangup`` is awaited once when the carrier says the call is over (``stop``).
    """

    def __init__(
        self,
        inner: FrameSerializer,
        *,
        carrier: str,
        binary_audio: bool = False,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
    ) -> None:
        super().__init__(FrameSerializer.InputParams())
        self.inner = inner
        self.carrier = carrier
        self.binary_audio = binary_audio
        self.max_message_bytes = max_message_bytes
        self.on_hangup: Callable[[], Awaitable[None]] | None = None
        self.last_message_at = time.monotonic()
        self.messages = 0
        self.problems: Counter[str] = Counter()
        self._hung_up = False
        #: The call was handed on (a transfer): ending the session must not hang it up.
        self.keep_call = False

    # ---- bookkeeping -----------------------------------------------------------------------

    def _problem(self, kind: str, detail: str) -> None:
        """Log the first problem of each kind (one line, never the payload); count the rest."""
        self.problems[kind] += 1
        if self.problems[kind] == 1:
            logger.warning(f"{self.carrier} stream: {detail}; dropped (later ones are counted)")

    def summary(self) -> str | None:
        """One line with the bad messages of the call, or None if there were none."""
        if not self.problems:
            return None
        parts = ", ".join(f"{n} {kind}" for kind, n in self.problems.most_common())
        return f"{self.carrier} stream: {parts} of {self.messages} messages dropped"

    # ---- FrameSerializer -------------------------------------------------------------------

    async def setup(self, setup: FrameProcessorSetup) -> None:  # type: ignore[override]
        await self.inner.setup(setup)

    async def serialize(self, frame: Frame) -> str | bytes | None:
        if self.keep_call and isinstance(frame, EndFrame | CancelFrame):
            return None  # no REST hang-up: the carrier has given the call to someone else
        try:
            return await self.inner.serialize(frame)
        except Exception as e:  # a frame we cannot send must not end the call
            self._problem(f"unsendable {type(frame).__name__}", f"could not send {frame}: {e}")
            return None

    async def deserialize(self, data: str | bytes) -> Frame | None:
        self.messages += 1
        self.last_message_at = time.monotonic()
        if len(data) > self.max_message_bytes:
            self._problem(
                "oversized", f"a {len(data)}-byte message (over {self.max_message_bytes})"
            )
            return None
        if not (self.binary_audio and isinstance(data, bytes)):
            message = self._json_object(data)
            if message is None:
                return None
            if message.get("event") == "stop" or message.get("type") == "stop":
                await self._hang_up()
                return None
        try:
            return await self.inner.deserialize(data)
        except Exception as e:
            kind = type(e).__name__
            if type(e).__module__ != "builtins":  # binascii.Error: a base64 payload
                kind = f"{type(e).__module__}.{kind}"
            self._problem(kind, f"a message it could not read ({kind})")
            return None

    def _json_object(self, data: str | bytes) -> dict[str, Any] | None:
        try:
            message = json.loads(data)
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            self._problem("not JSON", "a message that is not JSON")
            return None
        if not isinstance(message, dict):
            self._problem("not a JSON object", "a JSON message that is not an object")
            return None
        return message

    async def _hang_up(self) -> None:
        if self._hung_up:
            return
        self._hung_up = True
        logger.info(f"{self.carrier} stream: the carrier says the call is over (stop)")
        if self.on_hangup is not None:
            await self.on_hangup()
