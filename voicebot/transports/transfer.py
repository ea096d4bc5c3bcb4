"""Warm transfer: the bot hands a phone call to a human, with what the call was about.

``Session.transfer(to=...)`` (and the ``transfer_call`` tool, ``voicebot.tools.builtin``):

1. **Check** that this call can be transferred to ``to`` (an E.164 number or a SIP URI) and
   how, before anything is said: a ``TransferError`` names what is missing (not a phone call,
   a carrier with no transfer path here, no REST credentials).
2. **Handoff package**: ``session.handoff_package()`` (transcript, summary, the caller's
   memory, tool calls) plus ``transfer`` (target, the reason the model gave, the caller's
   number), given to ``on_handoff`` (a CRM, the agent's screen) before the human's phone
   rings. SIP targets also get ``X-Voicebot-Session`` and ``X-Voicebot-Reason`` headers.
3. **The bot's line** ("Please hold..."), then ``worker.flush_pipeline()``: the TTS keeps
   later frames behind its audio and the output transport behind what it has sent, so when
   the flush returns the line has left for the carrier; ``SETTLE_SECS`` more cover what the
   carrier buffered.
4. **The transfer**:
   - Twilio: the live call is updated with ``<Dial><Number>`` or ``<Dial><Sip>`` over REST.
     Twilio stops the media stream and dials; the session ends. The transport is told to keep
     the call (no REST hang-up when the session ends, which would end the dialled leg too).
   - SIP: ``REFER`` (RFC 3515) to the caller's phone, which calls the target and reports in
     NOTIFYs; on its 2xx the bot sends BYE (RFC 5589 section 6) and the session ends.
   - Anything else (Telnyx, Plivo, Exotel, Teler, the generic socket): a ``TransferError``;
     those carriers' transfer APIs are not wired here.

A transfer the carrier refuses (a REST error, a NOTIFY with 486) returns
``TransferResult(transferred=False, detail=...)`` and the call goes on with the bot.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr

from loguru import logger

from voicebot.errors import ConfigError
from voicebot.transports.carrier_rest import (
    CallControlError,
    CarrierUnreachableError,
    check_e164,
    twilio_account,
    twilio_update_call,
)

if TYPE_CHECKING:
    from voicebot.session import Session

#: What the bot says before the transfer unless told otherwise.
DEFAULT_LINE = "Please hold while I put you through to a colleague."
#: Seconds after the line has left the transport before the carrier is asked to switch: the
#: carrier's own playout buffer (Twilio cuts it when the call's TwiML changes).
SETTLE_SECS = 0.3
#: Longest reason put in a SIP header (the whole package goes to ``on_handoff``).
MAX_HEADER_REASON = 200
SIP_URI = re.compile(r"sips?:[^@\s<>\"?]+@[A-Za-z0-9.\-\[\]:]+(;[^\s<>\"?]*)?")

#: Called with the handoff package before the transfer is placed (sync or async).
HandoffHook = Callable[[dict[str, Any]], Awaitable[None] | None]


class TransferError(CallControlError):
    """This call cannot be transferred to that target: the message names what is missing."""


@dataclass(frozen=True)
class Target:
    """Where a call goes: a phone number (E.164) or a SIP URI."""

    kind: Literal["number", "sip"]
    uri: str


def parse_target(to: str) -> Target:
    """``to`` as a ``Target``, or a ``TransferError`` saying what a target looks like."""
    text = to.strip() if isinstance(to, str) else ""
    if text.lower().startswith(("sip:", "sips:")):
        if SIP_URI.fullmatch(text):
            return Target("sip", text)
        raise TransferError(
            f"transfer target {to!r} is not a SIP URI of the form 'sip:user@host[:port]'"
        )
    try:
        return Target("number", check_e164(text, "transfer target"))
    except CallControlError as e:
        raise TransferError(f"{e}, or a SIP URI such as 'sip:agent@pbx.example.com'") from None


@dataclass(frozen=True)
class TransferResult:
    """How a transfer went. ``detail`` is one line (the SIP status, the carrier's error)."""

    transferred: bool
    to: str
    via: str  # "twilio" | "sip"
    detail: str
    handoff: dict[str, Any]


class _Route:
    """How one session's call is handed on; ``place`` returns (done, detail)."""

    via = ""

    async def place(self, package: dict[str, Any], timeout_secs: float) -> tuple[bool, str]:
        raise NotImplementedError

    async def after(self, transferred: bool) -> None:
        """What follows the attempt (the session ends once the human has the call)."""


class _Twilio(_Route):
    via = "twilio"

    def __init__(self, session: Session, target: Target, caller_id: str | None) -> None:
        from voicebot.transports.phone.base import PhoneTransport, phone_call

        call = phone_call(session)
        assert call is not None
        if not call.call_id:
            raise TransferError(
                "this Twilio call has no CallSid (its stream's start message had none): "
                "nothing to update over REST"
            )
        self.session, self.target, self.call_sid = session, target, call.call_id
        provider = session.transport_provider
        assert isinstance(provider, PhoneTransport)
        self.provider = provider
        ctx = session.bot.build_context()
        try:
            self.account = twilio_account(self.provider, ctx, "transferring a call")
        except ConfigError as e:  # no credentials, or half of them
            raise TransferError(str(e)) from None
        self.caller_id = check_e164(caller_id, "caller_id") if caller_id else None

    def twiml(self, package: dict[str, Any]) -> str:
        caller = f" callerId={quoteattr(self.caller_id)}" if self.caller_id else ""
        if self.target.kind == "sip":
            uri = with_headers(self.target.uri, package)
            leg = f"<Sip>{escape(uri)}</Sip>"
        else:
            leg = f"<Number>{escape(self.target.uri)}</Number>"
        return f"<Response><Dial{caller}>{leg}</Dial></Response>"

    async def place(self, package: dict[str, Any], timeout_secs: float) -> tuple[bool, str]:
        # Before the update: Twilio stops the stream at once, and the session's end must not
        # hang up over REST what is now the dialled call.
        self.provider.keep_call(True)
        try:
            await asyncio.wait_for(
                twilio_update_call(self.account, self.call_sid, self.twiml(package)),
                timeout_secs,
            )
        except (CarrierUnreachableError, TimeoutError) as e:
            # It may have taken effect: still no REST hang-up (closing the stream ends a
            # call that is still ours anyway, its TwiML having nothing after <Stream>).
            return False, str(e) or "Twilio did not answer in time"
        except CallControlError as e:  # Twilio said no: the call is still only ours
            self.provider.keep_call(False)
            return False, str(e)
        return True, f"Twilio dials {self.target.uri}"

    async def after(self, transferred: bool) -> None:
        if transferred:
            await self.session.end()  # closes the stream, if Twilio has not already


class _Sip(_Route):
    via = "sip"

    def __init__(self, session: Session, target: Target) -> None:
        self.session, self.target = session, target
        self.line = session.transport.line  # type: ignore[attr-defined]
        self.uri = target.uri if target.kind == "sip" else self._number_uri(target.uri)

    def _number_uri(self, number: str) -> str:
        """A number goes to the SIP domain the bot is reached at (its registrar's, or the
        one the caller dialled), unless that is the bot itself."""
        config, info = self.line.config, self.line.call_info
        host = _host_of(config.aor) if config.aor else None
        if host is None and info is not None:
            host = _host_of(info.callee)
        if host is None or host.split(":")[0] in (config.host, config.media_host, "0.0.0.0"):
            raise TransferError(
                "a number needs a SIP domain to be called at, and this call came straight to "
                "the bot: transfer to a SIP URI (e.g. 'sip:+15551234567@pbx.example.com')"
            )
        return f"sip:{number}@{host}"

    async def place(self, package: dict[str, Any], timeout_secs: float) -> tuple[bool, str]:
        uri = with_headers(self.uri, package)
        ok, detail = await self.line.refer(uri, timeout_secs=timeout_secs)
        return bool(ok), str(detail)

    async def after(self, transferred: bool) -> None:
        if transferred:
            await self.session.end()  # BYE, unless the caller's phone already left


def _route(session: Session, target: Target, caller_id: str | None) -> _Route:
    from voicebot.transports.phone.base import phone_call

    call = phone_call(session)
    if call is not None:
        if call.carrier == "twilio":
            return _Twilio(session, target, caller_id)
        raise TransferError(
            f"cannot transfer a {call.carrier} call: voicebot transfers Twilio calls (REST "
            f"<Dial>) and SIP calls (REFER); {_MISSING.get(call.carrier, 'no transfer API')}"
        )
    if type(session.transport_provider).__name__ == "SIP" and hasattr(session.transport, "line"):
        if caller_id:
            raise TransferError(
                "caller_id is for Twilio; on SIP the caller's phone places the call"
            )
        return _Sip(session, target)
    raise TransferError(
        "this session is not a phone call: transfer needs a call from Twilio "
        "(Bot(transport=Twilio(...)) through `voicebot serve`) or from SIP(...)"
    )


_MISSING = {
    "telnyx": "Telnyx's Call Control transfer (POST /v2/calls/{id}/actions/transfer) is "
    "not wired yet",
    "plivo": "Plivo's transfer needs an answer URL for the new leg, which is not wired yet",
    "exotel": "Exotel's Voicebot applet has no transfer API (end the applet and let the flow "
    "go on)",
    "teler": "FreJun Teler documents no transfer over its media stream",
    "pcm": "the generic socket has no call control (do it in your gateway)",
}


def with_headers(uri: str, package: dict[str, Any]) -> str:
    """``uri`` with the session id and the reason as SIP headers (RFC 3261 section 19.1.1),
    which the new INVITE to the target carries."""
    info = package.get("transfer", {})
    headers = {"X-Voicebot-Session": str(package.get("session_id") or "")}
    reason = " ".join(str(info.get("reason") or "").split())[:MAX_HEADER_REASON]
    if reason:
        headers["X-Voicebot-Reason"] = reason
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in headers.items() if v)
    if not query:
        return uri
    return f"{uri}{'&' if '?' in uri else '?'}{query}"


def _host_of(uri: str) -> str | None:
    found = re.search(r"@([^;>?\s]+)", uri or "")
    return found.group(1) if found else None


def handoff(session: Session, target: Target, reason: str | None) -> dict[str, Any]:
    """The session's handoff package plus what the human needs to know about this transfer."""
    from voicebot.transports.phone.base import phone_call

    package = session.handoff_package()
    call = phone_call(session)
    info = getattr(session.transport, "call_info", None)  # a SIP call's
    package["transfer"] = {
        "to": target.uri,
        "reason": reason,
        "caller": call.from_number if call else getattr(info, "caller", None),
        "carrier_call_id": call.call_id if call else getattr(info, "call_id", None),
        "at": time.time(),
    }
    return package


async def transfer(
    session: Session,
    to: str,
    *,
    say: str | None = DEFAULT_LINE,
    reason: str | None = None,
    on_handoff: HandoffHook | None = None,
    caller_id: str | None = None,
    timeout_secs: float = 60.0,
) -> TransferResult:
    """Hand ``session``'s call to ``to`` (see the module doc). ``caller_id``: the number the
    human sees (Twilio; by default the caller's). ``timeout_secs``: how long the carrier, or
    the caller's phone and the target, have to take the call. Raises ``TransferError`` before
    anything is said when the call cannot be transferred; returns how it went otherwise."""
    target = parse_target(to)
    route = _route(session, target, caller_id)
    package = handoff(session, target, reason)
    if on_handoff is not None:
        try:  # a plain function runs in a thread, as tools do: it may block (a CRM request)
            if inspect.iscoroutinefunction(on_handoff):
                await on_handoff(package)
            elif inspect.isawaitable(outcome := await asyncio.to_thread(on_handoff, package)):
                await outcome
        except Exception as e:  # the caller still wants a human: transfer without it
            logger.error(f"transfer: on_handoff failed ({type(e).__name__}: {e}); transferring")
    if say:
        from pipecat.frames.frames import TTSSpeakFrame

        await session.worker.queue_frames([TTSSpeakFrame(say)])
    if not await session.worker.flush_pipeline():
        logger.warning("transfer: the pipeline did not drain; transferring anyway")
    await asyncio.sleep(SETTLE_SECS)
    logger.info(f"voicebot session {session.id}: transferring the call to {target.uri}")
    done, detail = await route.place(package, timeout_secs)
    (logger.info if done else logger.warning)(
        f"voicebot session {session.id}: transfer to {target.uri} "
        f"{'done' if done else 'failed'}: {detail}"
    )
    await route.after(done)
    return TransferResult(done, target.uri, route.via, detail, package)
