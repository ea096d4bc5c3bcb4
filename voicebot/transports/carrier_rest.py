"""Call control through a carrier's REST API: what a transfer and an outbound call ask of it.

Only Twilio has a REST path here (its SDK, ``voicebot[phone]``): update a live call with new
TwiML (``<Dial>``: a transfer) and create a call (an outbound call). The SDK runs on its
aiohttp client, so no request blocks the event loop that carries the calls. Its API root can
be pointed elsewhere (``Twilio(api_base=...)``): a Twilio-compatible backend, or a local fake
in tests. Every failure is one ``CallControlError`` line that names the status and the fix;
the SDK's own exception (with a traceback into it) never reaches the caller.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from voicebot.errors import ConfigError
from voicebot.providers.base import BuildContext

#: Seconds a REST request may take before it counts as failed (the carrier is one hop).
REST_TIMEOUT_SECS = 15.0
#: A phone number in E.164 form: "+", a country code, at most 15 digits in all.
E164 = re.compile(r"\+[1-9]\d{6,14}")


class CallControlError(ConfigError):
    """A transfer or outbound call that cannot be made as asked, or that the carrier
    refused: the message says which, and what to change."""


class CarrierUnreachableError(CallControlError):
    """The carrier's API did not answer (connection, timeout): whether the request took
    effect is unknown."""


def check_e164(number: str, what: str) -> str:
    """``number`` if it is E.164 (``+15551234567``), else a ``CallControlError`` naming it."""
    compact = re.sub(r"[\s().-]", "", number) if isinstance(number, str) else ""
    if not E164.fullmatch(compact):
        raise CallControlError(
            f"{what} {number!r} is not a phone number in E.164 form: give '+', the country "
            "code and the number, digits only (e.g. '+15551234567')"
        )
    return compact


@dataclass(frozen=True)
class TwilioAccount:
    """Who the REST requests are made as: the account, and its token or an API key."""

    account_sid: str
    login: str  # the account SID, or an API key SID
    password: str = field(repr=False)
    region: str | None = None
    edge: str | None = None
    api_base: str | None = None


def twilio_account(provider: Any, ctx: BuildContext, what: str) -> TwilioAccount:
    """The REST account of a ``Twilio`` transport provider, or a ``CallControlError`` saying
    what ``what`` (e.g. "transferring a call") needs."""
    creds = provider.credentials(ctx)  # a ConfigError itself when half given
    if creds is None:
        off = (
            " (Twilio(rest_hang_up=False) turns its REST API off)"
            if getattr(provider, "rest_hang_up", None) is False
            else ""
        )
        raise CallControlError(
            f"{what} needs Twilio's REST credentials{off}: pass Twilio(account_sid=..., "
            "auth_token=...) or set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (or "
            "TWILIO_API_KEY + TWILIO_API_SECRET) in the environment or in .env"
        )
    login = creds.get("api_key_sid") or creds["account_sid"]
    password = creds.get("auth_token") or creds["api_key_secret"]
    return TwilioAccount(
        account_sid=creds["account_sid"],
        login=login,
        password=password,
        region=creds.get("region"),
        edge=creds.get("edge"),
        api_base=getattr(provider, "api_base", None),
    )


@contextlib.asynccontextmanager
async def _twilio(account: TwilioAccount, what: str) -> AsyncIterator[Any]:
    """An SDK client on aiohttp; its errors become one ``CallControlError`` line."""
    try:
        import aiohttp
        from twilio.base.exceptions import TwilioRestException
        from twilio.http.async_http_client import AsyncTwilioHttpClient
        from twilio.rest import Client
    except ImportError:
        raise CallControlError(
            f'{what} needs the twilio SDK, which is not installed: pip install "voicebot[phone]"'
        ) from None

    http = AsyncTwilioHttpClient(timeout=REST_TIMEOUT_SECS)
    base = account.api_base
    client = Client(
        account.login,
        account.password,
        account.account_sid,
        # The SDK rewrites the host for a region/edge: not for an API root given outright.
        region=None if base else account.region,
        edge=None if base else account.edge,
        http_client=http,
        # Nothing from os.environ behind the provider's back (an empty mapping would mean
        # os.environ to the SDK): region and edge are the provider's, or none.
        environment={"VOICEBOT": "1"},
    )
    if base:
        client.api.base_url = base.rstrip("/")
    where = base or "api.twilio.com"
    try:
        yield client
    except TwilioRestException as e:
        code = f", Twilio error {e.code}" if e.code else ""
        raise CallControlError(
            f"Twilio refused {what}: HTTP {e.status}{code}: {_first_line(e.msg)}{_hint(e.status)}"
        ) from None
    except (aiohttp.ClientError, TimeoutError, OSError) as e:
        raise CarrierUnreachableError(
            f"{what}: Twilio's API ({where}) could not be reached: "
            f"{type(e).__name__}: {_first_line(str(e))}"
        ) from None
    finally:
        if http.session is not None:
            await http.session.close()


def _first_line(text: str) -> str:
    return (text or "no detail").strip().splitlines()[0][:200] if text else "no detail"


def _hint(status: int) -> str:
    if status in (401, 403):
        return " (check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN, or the API key pair)"
    if status == 404:
        return " (the call is over, or it is not this account's)"
    return ""


async def twilio_update_call(account: TwilioAccount, call_sid: str, twiml: str) -> None:
    """Replace what a live call is doing with ``twiml`` (Twilio stops the media stream, then
    runs it)."""
    async with _twilio(account, f"updating call {call_sid}") as client:
        await (
            client.api.v2010.accounts(account.account_sid).calls(call_sid).update_async(twiml=twiml)
        )


async def twilio_create_call(
    account: TwilioAccount, *, to: str, from_: str, url: str, options: dict[str, Any]
) -> str:
    """Place a call to ``to``; when it is answered Twilio fetches its TwiML from ``url``
    (POST). Returns the new call's SID."""
    async with _twilio(account, f"placing a call to {to}") as client:
        call = await client.api.v2010.accounts(account.account_sid).calls.create_async(
            to=to, from_=from_, url=url, method="POST", **options
        )
        return str(call.sid)
