"""Phone calls from carrier media streams: one transport per carrier (docs/telephony.md).

    Twilio, Telnyx, Plivo, Exotel   Pipecat's serializers       twilio.py, telnyx.py, ...
    Teler                           FreJun Teler (ours)         teler.py
    PhoneWebSocket                  generic PCM over WebSocket  pcm.py
    PhoneCall, phone_call           the call a session answers  base.py

Each module imports Pipecat only when a call is built, so naming a carrier in a spec is cheap
(except ``pcm``/``teler``, which define serializers and so import Pipecat's frames).
"""

from voicebot.transports.phone.base import CARRIERS, PhoneCall, PhoneTransport, phone_call
from voicebot.transports.phone.exotel import Exotel
from voicebot.transports.phone.plivo import Plivo
from voicebot.transports.phone.telnyx import Telnyx
from voicebot.transports.phone.twilio import Twilio

__all__ = [
    "CARRIERS",
    "Exotel",
    "PhoneCall",
    "PhoneTransport",
    "Plivo",
    "Telnyx",
    "Twilio",
    "phone_call",
]
