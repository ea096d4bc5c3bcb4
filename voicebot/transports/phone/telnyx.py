"""Telnyx media streaming, through Pipecat's ``TelnyxFrameSerializer``.

Telnyx sends ``connected``, ``start`` (``stream_id``, ``call_control_id``, ``from``, ``to``
and ``media_format.encoding``), then ``media`` messages of base64 PCMU or PCMA at 8 kHz,
``dtmf`` and ``stop``; the bot answers with ``media`` (bidirectional streaming, RTP mode) and,
on a barge-in, ``clear``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import SecretStr

from voicebot.env import lookup
from voicebot.errors import ConfigError
from voicebot.providers.base import BuildContext
from voicebot.transports.phone.base import PhoneCall, PhoneTransport, secret

if TYPE_CHECKING:
    from pipecat.serializers.base_serializer import FrameSerializer

    from voicebot.transports.phone.marks import MarkProtocol

#: The encodings Pipecat's serializer converts (G.711 μ-law and A-law, 8 kHz).
ENCODINGS = ("PCMU", "PCMA")


class Telnyx(PhoneTransport):
    """Answer Telnyx calls streamed to ``voicebot serve`` (``/phone/ws/telnyx``).

    ``api_key`` (``TELNYX_API_KEY``) is only used to hang up through the Call Control API;
    without it the bot hangs up by closing the stream. ``reply_encoding``: what the bot
    sends back (the call's ``stream_bidirectional_codec``); by default the encoding Telnyx
    says it sends.
    """

    name: ClassVar[str] = "telnyx"
    carrier: ClassVar[str] = "telnyx"
    line_rate: ClassVar[int | None] = 8000

    api_key: SecretStr | None = None
    reply_encoding: Literal["PCMU", "PCMA"] | None = None
    rest_hang_up: bool | None = None

    def _api_key(self, ctx: BuildContext) -> str | None:
        if self.rest_hang_up is False:
            return None
        key = secret(self.api_key) or lookup(ctx.env, "TELNYX_API_KEY")
        if key is None and self.rest_hang_up:
            raise ConfigError(
                "Telnyx needs an API key to hang up calls through its REST API: pass "
                "api_key=... or set TELNYX_API_KEY in the environment or in .env"
            )
        return key

    def mark_protocol(self, call: PhoneCall) -> MarkProtocol:
        """Telnyx echoes a ``mark`` once the audio before it has played."""
        from voicebot.transports.phone.marks import TelnyxMarks

        return TelnyxMarks(call.stream_id or "")

    def check_credentials(self, ctx: BuildContext) -> None:
        self._api_key(ctx)

    def serializer(self, ctx: BuildContext, call: PhoneCall) -> FrameSerializer:
        from pipecat.serializers.telnyx import TelnyxFrameSerializer

        incoming = (call.encoding or "PCMU").upper()
        if incoming not in ENCODINGS:
            raise ConfigError(
                f"Telnyx streams {incoming} on this call; voicebot takes PCMU or PCMA: set the "
                "call's stream_codec to PCMU"
            )
        key = self._api_key(ctx) if call.call_id else None
        return TelnyxFrameSerializer(
            stream_id=call.stream_id or "",
            outbound_encoding=incoming,  # Pipecat's name for what Telnyx sends
            inbound_encoding=self.reply_encoding or incoming,  # ...and for what it receives
            call_control_id=call.call_id,
            api_key=key,
            params=TelnyxFrameSerializer.InputParams(auto_hang_up=key is not None),
        )
