"""Outbound calls: ``await bot.call(to="+1...", from_="+1...")`` rings someone, and the bot
that ``voicebot serve`` serves talks to them (reminders, lead qualification).

The call is placed through the carrier's REST API (Twilio: ``calls.create``) with the served
server's own carrier webhook as its answer URL, ``{server_url}/phone/twilio``. When the
person picks up, Twilio posts that webhook exactly as for an incoming call, and the
supervisor does what it always does (``voicebot.server.phone_gateway``): reserves a warm
worker, mints the one-time ticket and answers with the ``<Connect><Stream>`` to it, or has
Twilio say the lines are busy. Nothing about tickets is repeated here, and no slot is held
while the phone rings (a ringing phone can outlast a ticket's 30 s).

Twilio marks such a call ``Direction=outbound-api`` with ``From`` our number and ``To``
theirs; the webhook passes the person called on as the call's ``from_number``, so the
session's ``user_id`` (whose memory) is theirs, as on an incoming call.

Before dialling, ``{server_url}/readyz`` is asked whether a line is free (no token needed),
so a full or absent server is one clear error instead of a ringing phone nobody answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from loguru import logger

from voicebot.env import lookup
from voicebot.redaction import mask_number
from voicebot.transports.carrier_rest import (
    CallControlError,
    check_e164,
    twilio_account,
    twilio_create_call,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from voicebot.bot import Bot

#: Where ``bot.call`` finds the server's public URL when ``server_url`` is not given.
PUBLIC_URL_ENV = "VOICEBOT_PUBLIC_URL"
#: Seconds the readiness check may take.
READY_TIMEOUT_SECS = 10.0


class OutboundCallError(CallControlError):
    """An outbound call that cannot be placed: the message names what to change."""


@dataclass(frozen=True)
class OutboundCall:
    """A call placed (ringing): the carrier's id for it, and where it will stream."""

    carrier: str
    call_id: str  # Twilio's CallSid
    to: str
    from_: str
    answer_url: str


def public_url(given: str | None, env: Mapping[str, str]) -> str:
    """The served server's public base URL (``server_url=`` or ``VOICEBOT_PUBLIC_URL``)."""
    url = given or lookup(env, PUBLIC_URL_ENV)
    if not url:
        raise OutboundCallError(
            "an outbound call streams into your `voicebot serve`: pass "
            "server_url='https://bot.example.com' (the server's public URL, as given to "
            f"--public-url) or set {PUBLIC_URL_ENV}"
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise OutboundCallError(
            f"server_url {url!r} is not a base URL such as 'https://bot.example.com' "
            "(http or https, a host, no query)"
        )
    return url.rstrip("/")


async def _check_ready(base: str) -> None:
    import httpx

    try:
        async with httpx.AsyncClient(timeout=READY_TIMEOUT_SECS) as client:
            answer = await client.get(f"{base}/readyz")
    except httpx.HTTPError as e:
        raise OutboundCallError(
            f"the server at {base} could not be reached ({type(e).__name__}): is `voicebot "
            "serve` running there, and is that its public URL? (check_server=False skips this)"
        ) from None
    if answer.status_code == 503:
        raise OutboundCallError(
            f"the server at {base} has no free line now (every worker busy, or draining): "
            "try again when a call has ended"
        )
    if answer.status_code != 200:
        raise OutboundCallError(
            f"the server at {base} answered /readyz with HTTP {answer.status_code}: is it "
            "`voicebot serve`?"
        )


async def place_call(
    bot: Bot,
    to: str,
    from_: str,
    *,
    server_url: str | None = None,
    carrier: str = "twilio",
    check_server: bool = True,
    env: Mapping[str, str] | None = None,
    **options: Any,
) -> OutboundCall:
    """``Bot.call``: see the module doc. ``options`` go to Twilio's ``calls.create`` as they
    are (``timeout=`` seconds of ringing, ``machine_detection=``, ``status_callback=``...)."""
    ctx = bot.build_context(env)
    to = check_e164(to, "to")
    from_ = check_e164(from_, "from_")
    if to == from_:
        raise OutboundCallError(f"to and from_ are the same number ({to})")
    if carrier != "twilio":
        raise OutboundCallError(
            f"outbound calls go through Twilio's REST API for now, not {carrier!r}: use "
            "carrier='twilio' with a Twilio number as from_"
        )
    from voicebot.transports.phone.twilio import Twilio

    provider = bot.transport if isinstance(bot.transport, Twilio) else Twilio()
    account = twilio_account(provider, ctx, "placing an outbound call")
    base = public_url(server_url, ctx.env)
    answer_url = f"{base}/phone/twilio"
    if check_server:
        await _check_ready(base)
    try:
        sid = await twilio_create_call(account, to=to, from_=from_, url=answer_url, options=options)
    except TypeError as e:  # an option calls.create does not have
        raise OutboundCallError(f"bot.call: {e} (options go to Twilio's calls.create)") from None
    logger.info(f"outbound call {sid}: {from_} -> {mask_number(to)}, answered at {answer_url}")
    return OutboundCall("twilio", sid, to, from_, answer_url)
