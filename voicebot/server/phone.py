"""The worker's phone endpoint: a carrier's media-stream WebSocket becomes one bot session.

Routes (added to a worker's app by ``add_phone_routes``):

- ``WS /phone/ws``: the carrier is recognised from its first messages
  (``voicebot.transports.phone.detect``);
- ``WS /phone/ws/{carrier}``: ``twilio``, ``telnyx``, ``plivo``, ``exotel``, ``teler`` or
  ``pcm``; a socket speaking another carrier's protocol is refused.

The supervisor reserves a slot on a worker and hands the carrier's connection, not yet
answered, to that worker with ``?call_id=<id>`` (``voicebot.server.socket_handoff``; with
``--relay-phone`` it accepts the socket itself and relays it here): the session is
registered in the playground under exactly that id, so the worker's heartbeat
(``/worker/calls``) reports it and the slot is freed when it ends. A direct connection
(tests) without ``call_id`` gets a uuid4. The bot's own transport is used when it is a phone
transport for this carrier (its credentials and options), else that carrier's transport with
its defaults (credentials from the environment, if any). The caller's number, when the
carrier gives it, is the session's ``user_id`` (whose memory); ``phone_call(session)`` has
the rest.

Closing codes: 1008 for a socket that is not a call we answer (unknown carrier, bad or
missing ``start``), 1013 when the worker is full, 1011 when the bot could not start.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
from typing import TYPE_CHECKING, Any

from fastapi import WebSocket  # at run time: FastAPI reads the routes' annotations
from loguru import logger

from voicebot.errors import ConfigError
from voicebot.redaction import mask_number
from voicebot.transports.phone.base import CARRIERS, PhoneCall, PhoneTransport

if TYPE_CHECKING:
    from fastapi import FastAPI

    from voicebot.server.playground import Playground

#: What a ``call_id`` from the supervisor may look like (it makes uuid-like ids).
CALL_ID = re.compile(r"[A-Za-z0-9_.:#-]{1,128}")


def transport_for(bot: Any, call: PhoneCall, connection: Any) -> PhoneTransport:
    """The bot's phone transport for this carrier (or the carrier's default), given this call."""
    from voicebot import registry

    chosen = bot.transport
    if not (isinstance(chosen, PhoneTransport) and chosen.carrier == call.carrier):
        cls = registry.lookup("transport", call.carrier)
        chosen = cls()
        assert isinstance(chosen, PhoneTransport)
    return chosen.model_copy(update={"connection": connection, "call": call})


def check_phone_transport(bot: Any) -> None:
    """At worker start: a bot whose transport is a phone carrier's has complete credentials
    (a ``ConfigError`` naming what is missing), so a bad spec fails before the first call."""
    transport = bot.transport
    if isinstance(transport, PhoneTransport):
        transport.check_credentials(bot.build_context())


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(Exception):  # already closed by the carrier, or never accepted
        await websocket.close(code=code, reason=reason[:120])


class PhoneEndpoint:
    """Answers phone sockets for one playground (the worker's)."""

    def __init__(self, playground: Playground) -> None:
        from voicebot.transports.phone.detect import START_TIMEOUT_SECS

        self.playground = playground
        self.starting = 0  # calls accepted whose session is not live yet
        #: Seconds a socket may take to send its start message before it is closed.
        self.start_timeout = START_TIMEOUT_SECS

    async def answer(self, websocket: WebSocket, carrier: str | None) -> None:
        from fastapi import HTTPException

        call_id = websocket.query_params.get("call_id") or f"phone-{uuid.uuid4()}"
        if carrier is not None and carrier not in CARRIERS:
            logger.warning(f"phone: unknown carrier {carrier[:20]!r}; refused")
            await _close(websocket, 1008, f"unknown carrier; known: {', '.join(CARRIERS)}")
            return
        if not CALL_ID.fullmatch(call_id) or call_id in self.playground.sessions:
            logger.warning("phone: a call_id that is malformed or already taken; refused")
            await _close(websocket, 1008, "bad call_id")
            return
        playground = self.playground
        client = websocket.client.host if websocket.client else "unknown"
        try:
            playground.limits.admit(client, len(playground.live()) + self.starting)
        except HTTPException as e:
            logger.warning(f"phone: call {call_id} refused: {e.detail}")
            await _close(websocket, 1013, str(e.detail))
            return
        self.starting += 1
        try:
            await websocket.accept()
            with logger.contextualize(call_id=call_id):
                live = await self._start(websocket, carrier, call_id)
        finally:
            self.starting -= 1
        if live is None:
            return
        try:
            await asyncio.shield(live)
        finally:
            await _close(websocket, 1000, "call ended")

    async def _start(
        self, websocket: WebSocket, carrier: str | None, call_id: str
    ) -> asyncio.Task[None] | None:
        """The running session's task, or None (logged, socket closed) if there is none."""
        from voicebot.transports.phone.detect import CallSetupError, read_call

        playground = self.playground
        try:
            call, connection = await read_call(
                websocket, carrier, query=dict(websocket.query_params), timeout=self.start_timeout
            )
        except CallSetupError as e:
            logger.warning(f"phone: call {call_id} not started: {e}")
            await _close(websocket, 1008, str(e))
            return None
        await playground.ready.wait()
        start = time.perf_counter()
        try:
            transport = transport_for(playground.bot, call, connection)
            session = await playground.bot.start_session(
                transport=transport, user_id=call.from_number
            )
        except Exception as e:
            detail = str(e) if isinstance(e, ConfigError) else f"{type(e).__name__}: {e}"
            logger.error(f"phone: call {call_id} ({call.carrier}) could not start: {detail}")
            await _close(websocket, 1011, "the bot could not start")
            return None
        live = await playground.run_call(call_id, session)
        caller = f" from {mask_number(call.from_number)}" if call.from_number else ""
        logger.info(
            f"phone: {call.carrier} call {call_id}{caller} answered in "
            f"{time.perf_counter() - start:.2f}s"
        )
        assert live.task is not None
        return live.task


def add_phone_routes(app: FastAPI, playground: Playground) -> None:
    """``/phone/ws`` and ``/phone/ws/{carrier}`` on a worker's app (see the module doc)."""
    check_phone_transport(playground.bot)
    endpoint = PhoneEndpoint(playground)
    app.state.phone = endpoint

    @app.websocket("/phone/ws")
    async def phone_ws(websocket: WebSocket) -> None:
        await endpoint.answer(websocket, None)

    @app.websocket("/phone/ws/{carrier}")
    async def phone_ws_carrier(websocket: WebSocket, carrier: str) -> None:
        await endpoint.answer(websocket, carrier)
