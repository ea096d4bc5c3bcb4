"""Phone calls through the supervisor: the carrier's webhook, then its media WebSocket,
passed to a warm worker.

A carrier call arrives in two steps, and admission happens at the first:

1. **The webhook** (``POST /phone/{carrier}``; Twilio's "A call comes in" URL, Plivo's
   answer URL, Telnyx TeXML, Teler's flow URL). With a free slot, a worker is reserved and a
   one-time ticket minted; the answer tells the carrier to stream the call to
   ``wss://HOST/phone/ws/{carrier}/{ticket}``. With none, the answer makes **the carrier
   itself say "all lines are busy" and hang up** (TwiML ``<Say>``, Plivo ``<Speak>``), so a
   caller is never left in silence. The carrier's signature is checked when its secret is
   set (Twilio ``TWILIO_AUTH_TOKEN``, Telnyx ``TELNYX_PUBLIC_KEY``, Plivo
   ``PLIVO_AUTH_TOKEN``: ``voicebot.server.webhook_signatures``); a missing, bad or stale
   one is a 403, logged without the payload.
2. **The media WebSocket** (``/phone/ws/{carrier}/{ticket}``): the ticket (single use, gone
   after ``TICKET_SECS``) names the reserved worker. The connection itself, not yet
   answered, is handed to that worker (``voicebot.server.socket_handoff``), whose
   ``/phone/ws/{carrier}?call_id=...`` (``voicebot.server.phone``) answers it and runs the
   call; the supervisor is then out of the call's path. Where that is not possible (TLS
   terminated here; ``--relay-phone``) the supervisor accepts the socket and relays it to the
   worker over its Unix socket, message by message, until either side closes. A client that
   is not a carrier webhook flow (a test, a media gateway) connects to ``/phone/ws/{carrier}``
   directly with the bearer token, and is admitted then.

The worker's side (serializers, the session) is ``voicebot.server.phone`` and
``voicebot.transports.phone``.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode
from xml.sax.saxutils import escape

from fastapi import FastAPI, HTTPException, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, Response
from loguru import logger

from voicebot.server.pool import Worker
from voicebot.server.webhook_signatures import webhook_signature_ok

if TYPE_CHECKING:
    from voicebot.server.supervisor import Supervisor

#: Carriers whose media streams the workers speak (``voicebot.transports.phone``).
CARRIERS = ("twilio", "telnyx", "plivo", "exotel", "teler", "pcm")
#: Seconds a webhook's reserved slot waits for the carrier's WebSocket.
TICKET_SECS = 30.0
BUSY = "All our lines are busy right now. Please call again in a few minutes. Goodbye."


@dataclass
class Ticket:
    """A slot reserved by a webhook for the WebSocket that should follow."""

    worker: Worker
    carrier: str
    created_at: float


class PhoneGateway:
    """Tickets, and the media socket handed to a worker or relayed (see the module doc)."""

    def __init__(
        self, sup: Supervisor, *, public_url: str | None = None, handoff: bool = True
    ) -> None:
        self.sup = sup
        self.public_url = public_url.rstrip("/") if public_url else None
        self.tickets: dict[str, Ticket] = {}
        self.handoff = handoff
        self.handed_over = 0  # calls whose socket went to their worker
        self.relayed = 0  # calls relayed through this process
        self._warned: set[str] = set()  # causes already logged

    # ---- webhooks ------------------------------------------------------------------------

    def stream_url(self, request: Request, carrier: str, ticket: str) -> str:
        """Where the carrier should stream: this server as the carrier reached it."""
        if self.public_url:
            base = self.public_url
        else:
            proto = request.headers.get("x-forwarded-proto", request.url.scheme)
            host = request.headers.get("x-forwarded-host") or request.headers.get("host", "")
            base = f"{proto}://{host}"
        base = base.replace("https://", "wss://").replace("http://", "ws://")
        return f"{base}/phone/ws/{carrier}/{ticket}"

    def reserve(self, carrier: str) -> str | None:
        """A ticket for a reserved slot, or None at capacity (or draining)."""
        self._expire()
        if not self.sup.ready():
            self.sup.refused["draining" if self.sup.draining else "full"] += 1
            return None
        worker = self.sup.pool.reserve()
        if worker is None:
            self.sup.refused["full"] += 1
            return None
        ticket = secrets.token_urlsafe(18)
        self.tickets[ticket] = Ticket(worker, carrier, time.monotonic())
        return ticket

    def _expire(self) -> None:
        now = time.monotonic()
        for ticket, held in list(self.tickets.items()):
            if now - held.created_at > TICKET_SECS:
                del self.tickets[ticket]
                self.sup.pool.unreserve(held.worker)
                logger.warning(f"serve: a {held.carrier} call never streamed; its slot is free")

    # ---- the media socket --------------------------------------------------------------------

    async def pass_on(self, websocket: WebSocket, carrier: str, worker: Worker) -> None:
        """Give ``websocket`` (not yet accepted) to ``worker`` (its slot reserved): its
        connection handed over, or else accepted here and relayed. The stream URL's query
        goes with it (a webhook may have put the caller's number there: Teler's ``start``
        has none), plus the call id the slot is held under."""
        from voicebot.server.socket_handoff import (
            HandoffRefused,
            hand_over,
            handoff_connection,
            replayed_request,
        )

        call_id = f"{carrier}-{secrets.token_hex(12)}"
        query = {k: v for k, v in websocket.query_params.items() if k not in ("call_id", "token")}
        query["call_id"] = call_id
        connection = handoff_connection(websocket) if self.handoff else None
        if connection is not None:
            request = replayed_request(websocket.scope, f"/phone/ws/{carrier}?{urlencode(query)}")
            try:
                await hand_over(connection, worker.socket, request)
            except HandoffRefused as e:
                self._warn(f"w{worker.index}", f"worker w{worker.index} did not take it ({e})")
            except (OSError, TimeoutError) as e:
                # The connection left this process: the worker has it or it is gone. Held as
                # placed, the heartbeat confirms the call or frees the slot.
                self.sup.pool.placed(worker, call_id)
                logger.error(f"serve: worker w{worker.index} did not confirm {call_id}: {e}")
                return
            except BaseException:
                self.sup.pool.unreserve(worker)
                raise
            else:
                self.sup.pool.placed(worker, call_id)
                self.handed_over += 1
                logger.info(f"serve: {carrier} call {call_id} handed to worker w{worker.index}")
                return
        elif self.handoff:
            self._warn("here", "its connection cannot be handed over here (TLS terminated here?)")
        try:
            await websocket.accept()
        except Exception as e:  # the carrier hung up meanwhile
            self.sup.pool.unreserve(worker)
            logger.warning(
                f"serve: the {carrier} call {call_id} went before it was answered: {e!r}"
            )
            return
        await self.relay(websocket, carrier, worker, call_id, query)

    def _warn(self, where: str, why: str) -> None:
        """Once per cause (this server, or one worker): a phone call is relayed."""
        if where not in self._warned:
            self._warned.add(where)
            logger.warning(f"serve: a phone call is relayed through the supervisor: {why}")

    async def relay(
        self,
        websocket: WebSocket,
        carrier: str,
        worker: Worker,
        call_id: str,
        query: dict[str, str],
    ) -> None:
        """Relay the accepted ``websocket`` to ``worker`` until either side closes."""
        from websockets.asyncio.client import unix_connect
        from websockets.exceptions import ConnectionClosed, WebSocketException

        uri = f"ws://worker/phone/ws/{carrier}?{urlencode(query)}"
        try:
            # No permessage-deflate on this loopback hop: compressing every 20 ms media
            # message on both sides is CPU for nothing (docs/deploy.md, "CPU per call").
            inner = await unix_connect(
                str(worker.socket), uri, max_size=2**22, open_timeout=10, compression=None
            )
        except (OSError, WebSocketException, TimeoutError) as e:
            self.sup.pool.unreserve(worker)
            logger.error(f"serve: the worker could not take the {carrier} call: {e}")
            await websocket.close(code=1011)
            return
        self.sup.pool.placed(worker, call_id)
        self.relayed += 1
        logger.info(f"serve: {carrier} call {call_id} relayed to worker w{worker.index}")

        async def from_carrier() -> None:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("text") is not None:
                    await inner.send(message["text"])
                elif message.get("bytes") is not None:
                    await inner.send(message["bytes"])

        async def to_carrier() -> None:
            async for message in inner:
                if isinstance(message, str):
                    await websocket.send_text(message)
                else:
                    await websocket.send_bytes(message)

        tasks = [asyncio.create_task(from_carrier()), asyncio.create_task(to_carrier())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(ConnectionClosed, OSError):
                await inner.close()
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await websocket.close()
            logger.info(f"serve: {carrier} call {call_id} closed")


def stream_answer(carrier: str, url: str | None, caller: str = "", called: str = "") -> Response:
    """The carrier's instruction to stream the call to ``url`` (with the caller's and the
    dialled number where the carrier's stream would not carry them), or (None) to say the
    lines are busy and hang up."""
    numbers = {k: v for k, v in (("from", caller), ("to", called)) if v}
    if carrier == "teler":
        if url is None:
            return JSONResponse({"action": "hangup"})
        ws_url = f"{url}?{urlencode(numbers)}" if numbers else url
        return JSONResponse(
            {"action": "stream", "ws_url": ws_url, "chunk_size": 500, "sample_rate": "8k"}
        )
    if url is None:
        say = "Speak" if carrier == "plivo" else "Say"
        body = f"<Response><{say}>{escape(BUSY)}</{say}><Hangup/></Response>"
    elif carrier == "plivo":
        extra = ",".join(f"{k}_number={v}" for k, v in numbers.items() if v.isascii())
        headers = f' extraHeaders="{escape(extra)}"' if extra else ""
        body = (
            '<Response><Stream bidirectional="true" keepCallAlive="true" '
            f'contentType="audio/x-mulaw;rate=8000"{headers}>{escape(url)}</Stream></Response>'
        )
    else:  # Twilio TwiML (Telnyx TeXML takes the same shape): numbers as custom parameters
        params = "".join(
            f'<Parameter name="{k}_number" value="{escape(v, {chr(34): "&quot;"})}"/>'
            for k, v in numbers.items()
        )
        body = (
            f'<Response><Connect><Stream url="{escape(url)}">{params}</Stream></Connect></Response>'
        )
    return Response(f'<?xml version="1.0" encoding="UTF-8"?>{body}', media_type="application/xml")


async def read_webhook(request: Request) -> dict[str, str]:
    """The webhook's fields: a form (Twilio, Plivo, Telnyx TeXML) or a JSON object (Teler)."""
    kind = request.headers.get("content-type", "")
    try:
        if "json" in kind:
            data = await request.json()
            return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
        return {k: str(v) for k, v in (await request.form()).items()}
    except ValueError:
        raise HTTPException(400, "the webhook's body is neither a form nor a JSON object") from None


def caller_numbers(fields: dict[str, str]) -> tuple[str, str]:
    """(from, to) as the carriers name them in their webhooks."""
    caller = fields.get("From") or fields.get("from") or fields.get("from_number") or ""
    called = fields.get("To") or fields.get("to") or fields.get("to_number") or ""
    if fields.get("Direction", "").startswith("outbound"):  # bot.call: the person is "To"
        caller, called = called, caller
    return caller[:64], called[:64]


def add_phone_routes(app: FastAPI, sup: Supervisor, gateway: PhoneGateway, authed: Any) -> None:
    """``POST /phone/{carrier}`` and the media sockets (see the module doc)."""

    def known(carrier: str) -> str:
        if carrier not in CARRIERS:
            raise HTTPException(404, f"no carrier {carrier!r}: one of {', '.join(CARRIERS)}")
        return carrier

    @app.post("/phone/{carrier}")
    async def webhook(request: Request, carrier: str) -> Response:
        known(carrier)
        raw_body = await request.body()  # kept by the request: read_webhook parses it
        fields = await read_webhook(request)
        if not webhook_signature_ok(carrier, request, raw_body, fields):
            logger.warning(f"serve: a {carrier} webhook with a bad signature was refused")
            raise HTTPException(403, "bad signature")
        ticket = gateway.reserve(carrier)
        if ticket is None:
            logger.warning(f"serve: a {carrier} call found every line busy")
            return stream_answer(carrier, None)
        url = gateway.stream_url(request, carrier, ticket)
        return stream_answer(carrier, url, *caller_numbers(fields))

    @app.websocket("/phone/ws/{carrier}/{ticket}")
    async def ticketed(websocket: WebSocket, carrier: str, ticket: str) -> None:
        gateway._expire()
        held = gateway.tickets.pop(ticket, None)
        if carrier not in CARRIERS or held is None or held.carrier != carrier:
            await websocket.close(code=1008)  # policy violation: no such ticket
            return
        await gateway.pass_on(websocket, carrier, held.worker)

    @app.websocket("/phone/ws/{carrier}")
    async def direct(websocket: WebSocket, carrier: str) -> None:
        try:
            authed(websocket)
        except HTTPException:
            await websocket.close(code=1008)
            return
        if carrier not in CARRIERS:
            await websocket.close(code=1008)
            return
        ticket = gateway.reserve(carrier)
        if ticket is None:
            await websocket.close(code=1013)  # try again later
            return
        held = gateway.tickets.pop(ticket)
        await gateway.pass_on(websocket, carrier, held.worker)
