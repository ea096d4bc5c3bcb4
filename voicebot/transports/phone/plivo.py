"""Plivo audio streaming (``<Stream bidirectional="true">``), through Pipecat's
``PlivoFrameSerializer``.

Plivo sends ``start`` (``callId``, ``streamId``, ``mediaFormat``), then ``media`` messages of
base64 μ-law at 8 kHz, ``dtmf`` and ``stop``; the bot answers with ``playAudio`` and, on a
barge-in, ``clearAudio``. The caller's number is not in the stream: the answer XML can pass
it in ``extraHeaders`` (docs/telephony.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pydantic import SecretStr

from voicebot.env import lookup
from voicebot.errors import ConfigError
from voicebot.providers.base import BuildContext
from voicebot.transports.phone.base import PhoneCall, PhoneTransport, secret

if TYPE_CHECKING:
    from pipecat.serializers.base_serializer import FrameSerializer

    from voicebot.transports.phone.marks import MarkProtocol


class Plivo(PhoneTransport):
    """Answer Plivo calls streamed to ``voicebot serve`` (``/phone/ws/plivo``).

    ``auth_id`` (``PLIVO_AUTH_ID``) and ``auth_token`` (``PLIVO_AUTH_TOKEN``) are only used
    to hang up through Plivo's REST API; without them the bot hangs up by closing the stream.
    """

    name: ClassVar[str] = "plivo"
    carrier: ClassVar[str] = "plivo"
    line_rate: ClassVar[int | None] = 8000

    auth_id: str | None = None
    auth_token: SecretStr | None = None
    rest_hang_up: bool | None = None

    def credentials(self, ctx: BuildContext) -> tuple[str, str] | None:
        if self.rest_hang_up is False:
            return None
        auth_id = self.auth_id or lookup(ctx.env, "PLIVO_AUTH_ID")
        token = secret(self.auth_token) or lookup(ctx.env, "PLIVO_AUTH_TOKEN")
        if auth_id and token:
            return auth_id, token
        if self.rest_hang_up or self.auth_id is not None or self.auth_token is not None:
            missing = "auth_token=... or PLIVO_AUTH_TOKEN" if auth_id else "auth_id=... or "
            missing += "" if auth_id else "PLIVO_AUTH_ID"
            raise ConfigError(
                f"Plivo needs {missing} to hang up calls through its REST API: give it, or "
                "pass rest_hang_up=False to hang up by closing the stream"
            )
        return None

    def mark_protocol(self, call: PhoneCall) -> MarkProtocol:
        """Plivo answers a ``checkpoint`` with ``playedStream`` once the audio before it
        has played."""
        from voicebot.transports.phone.marks import PlivoCheckpoints

        return PlivoCheckpoints(call.stream_id or "")

    def check_credentials(self, ctx: BuildContext) -> None:
        self.credentials(ctx)

    def serializer(self, ctx: BuildContext, call: PhoneCall) -> FrameSerializer:
        from pipecat.serializers.plivo import PlivoFrameSerializer

        if call.encoding and "mulaw" not in call.encoding.lower():
            raise ConfigError(
                f"Plivo streams {call.encoding} on this call; voicebot takes audio/x-mulaw: set "
                'contentType="audio/x-mulaw;rate=8000" on the <Stream>'
            )
        creds = self.credentials(ctx) if call.call_id else None
        return PlivoFrameSerializer(
            stream_id=call.stream_id or "",
            call_id=call.call_id,
            auth_id=creds[0] if creds else None,
            auth_token=creds[1] if creds else None,
            params=PlivoFrameSerializer.InputParams(auto_hang_up=creds is not None),
        )
