"""Exotel Voicebot applet streams, through Pipecat's ``ExotelFrameSerializer``.

Exotel sends ``connected``, ``start`` (``stream_sid``, ``call_sid``, ``account_sid``,
``from``, ``to``, ``custom_parameters``), then ``media`` messages of base64 16-bit linear PCM
at 8 kHz, ``dtmf`` and ``stop``; the bot answers with ``media`` and, on a barge-in, ``clear``.
Exotel has no hang-up over the socket and Pipecat none over REST: the bot hangs up by closing
the stream, which ends the applet (the flow goes on to its next step).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from voicebot.providers.base import BuildContext
from voicebot.transports.phone.base import PhoneCall, PhoneTransport

if TYPE_CHECKING:
    from pipecat.serializers.base_serializer import FrameSerializer


class Exotel(PhoneTransport):
    """Answer Exotel calls streamed to ``voicebot serve`` (``/phone/ws/exotel``).

    ``sample_rate``: the line's rate when the start message does not say (8000; Exotel
    offers 16000 and 24000 with ``?sample-rate=`` on the stream URL).
    """

    name: ClassVar[str] = "exotel"
    carrier: ClassVar[str] = "exotel"
    line_rate: ClassVar[int | None] = 8000

    sample_rate: int = 8000

    def input_rate(self, call: PhoneCall) -> int:
        return call.sample_rate or self.sample_rate

    def serializer(self, ctx: BuildContext, call: PhoneCall) -> FrameSerializer:
        from pipecat.serializers.exotel import ExotelFrameSerializer

        rate = self.input_rate(call)
        return ExotelFrameSerializer(
            stream_sid=call.stream_id or "",
            call_sid=call.call_id,
            params=ExotelFrameSerializer.InputParams(exotel_sample_rate=rate),
        )
