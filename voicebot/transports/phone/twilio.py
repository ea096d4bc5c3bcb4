"""Twilio Media Streams (``<Connect><Stream>``), through Pipecat's ``TwilioFrameSerializer``.

Twilio sends ``connected``, ``start`` (with ``streamSid``, ``callSid`` and the TwiML
``<Parameter>`` values), then 20 ms ``media`` messages of base64 μ-law at 8 kHz, ``dtmf`` and
``stop``; the bot answers with ``media`` and, on a barge-in, ``clear``. The caller's number is
not in the stream: the webhook passes it as ``<Parameter name="from_number" value="{{From}}"/>``
(docs/telephony.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from loguru import logger
from pydantic import SecretStr

from voicebot.env import lookup
from voicebot.errors import ConfigError
from voicebot.providers.base import BuildContext
from voicebot.transports.phone.base import PhoneCall, PhoneTransport, secret

if TYPE_CHECKING:
    from pipecat.serializers.base_serializer import FrameSerializer

    from voicebot.transports.phone.marks import MarkProtocol

_warned_no_credentials = False


class Twilio(PhoneTransport):
    """Answer Twilio calls streamed to ``voicebot serve`` (``/phone/ws/twilio``).

    REST credentials are only used to hang up (and, later, transfer): ``account_sid``
    (``TWILIO_ACCOUNT_SID``) with ``auth_token`` (``TWILIO_AUTH_TOKEN``) or an API key pair
    (``TWILIO_API_KEY`` + ``TWILIO_API_SECRET``). Without any, calls are answered all the
    same and the bot hangs up by closing the stream, which ends a call whose TwiML has
    nothing after ``<Connect><Stream>``. ``rest_hang_up=True`` makes the credentials
    required; ``False`` never calls the REST API.
    """

    name: ClassVar[str] = "twilio"
    carrier: ClassVar[str] = "twilio"
    line_rate: ClassVar[int | None] = 8000

    account_sid: str | None = None
    auth_token: SecretStr | None = None
    api_key_sid: str | None = None
    api_key_secret: SecretStr | None = None
    region: str | None = None
    edge: str | None = None
    rest_hang_up: bool | None = None
    #: The REST API's root instead of Twilio's (a Twilio-compatible backend; a local fake).
    api_base: str | None = None

    def credentials(self, ctx: BuildContext) -> dict[str, str] | None:
        """The REST credentials for Pipecat's serializer, None to hang up without REST, or a
        ``ConfigError`` naming what is missing."""
        if self.rest_hang_up is False:
            return None
        env = ctx.env
        sid = self.account_sid or lookup(env, "TWILIO_ACCOUNT_SID")
        token = secret(self.auth_token) or lookup(env, "TWILIO_AUTH_TOKEN")
        key_sid = self.api_key_sid or lookup(env, "TWILIO_API_KEY")
        key_secret = secret(self.api_key_secret) or lookup(env, "TWILIO_API_SECRET")
        region = self.region or lookup(env, "TWILIO_REGION")
        edge = self.edge or lookup(env, "TWILIO_EDGE")
        given = [x for x in (sid, token, key_sid, key_secret) if x]
        if not given and not self.rest_hang_up:
            return None
        problem = None
        if not sid:
            problem = "account_sid=... or TWILIO_ACCOUNT_SID"
        elif token and (key_sid or key_secret):
            problem = "either auth_token or an API key pair, not both"
        elif not token and not (key_sid and key_secret):
            problem = (
                "auth_token=... or TWILIO_AUTH_TOKEN (or api_key_sid + api_key_secret, "
                "TWILIO_API_KEY + TWILIO_API_SECRET)"
            )
        elif bool(region) != bool(edge):
            problem = "region and edge together (or neither)"
        if problem is not None:
            explicit = any(
                v is not None
                for v in (self.account_sid, self.auth_token, self.api_key_sid, self.api_key_secret)
            )
            if self.rest_hang_up or explicit:
                raise ConfigError(
                    f"Twilio needs {problem} to hang up calls through its REST API: give it, "
                    "or pass rest_hang_up=False to hang up by closing the stream"
                )
            _warn_once(f"Twilio credentials in the environment are incomplete (needs {problem})")
            return None
        creds = {"account_sid": sid, "region": region, "edge": edge}
        if token:
            creds["auth_token"] = token
        else:
            creds["api_key_sid"], creds["api_key_secret"] = key_sid, key_secret
        return {k: v for k, v in creds.items() if v}

    def mark_protocol(self, call: PhoneCall) -> MarkProtocol:
        """Twilio echoes a ``mark`` once the audio before it has played."""
        from voicebot.transports.phone.marks import TwilioMarks

        return TwilioMarks(call.stream_id or "")

    def check_credentials(self, ctx: BuildContext) -> None:
        self.credentials(ctx)

    def serializer(self, ctx: BuildContext, call: PhoneCall) -> FrameSerializer:
        from pipecat.serializers.twilio import TwilioFrameSerializer

        creds = self.credentials(ctx)
        if creds is not None and not call.call_id:
            creds = None  # nothing to hang up by REST without the CallSid
        c = creds or {}
        return TwilioFrameSerializer(
            stream_sid=call.stream_id or "",
            call_sid=call.call_id,
            account_sid=c.get("account_sid"),
            auth_token=c.get("auth_token"),
            region=c.get("region"),
            edge=c.get("edge"),
            params=TwilioFrameSerializer.InputParams(auto_hang_up=creds is not None),
            api_key_sid=c.get("api_key_sid"),
            api_key_secret=c.get("api_key_secret"),
            base_url=self.api_base,
        )


def _warn_once(problem: str) -> None:
    global _warned_no_credentials
    if not _warned_no_credentials:
        _warned_no_credentials = True
        logger.warning(f"{problem}: calls are answered, and hung up by closing the stream")
