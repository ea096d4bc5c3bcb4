"""Twilio, faked on loopback from its documentation, for the transfer and outbound tests.

- ``FakeTwilioAPI``: the REST API's Calls resource (api.twilio.com/2010-04-01), on aiohttp in a
  thread of its own: ``POST .../Calls/{Sid}.json`` (update a live call: ``Twiml`` or
  ``Status``) and ``POST .../Calls.json`` (create a call). Basic auth is checked, errors come
  in Twilio's JSON shape (``code``, ``message``, ``status``). A created call is "answered":
  the fake posts the call's ``Url`` as Twilio does (form fields, ``Direction=outbound-api``,
  signed with ``X-Twilio-Signature``) and keeps the TwiML it got back.
- ``TwilioCaller``: one Media Streams call over the WebSocket (``connected``, ``start`` with
  ``callSid`` and ``customParameters``, paced μ-law ``media``, ``stop``), noting when each
  bot message arrived.
- ``served_worker(bot)``: a worker app (``voicebot.server.worker.build_app``) serving ``bot``
  on a loopback port, as tests/phone/conftest.py does for fake_bot.

Sources: twilio.com/docs/voice/api/call-resource (update, create), .../twiml/stream
(websocket-messages), .../security (request validation), .../errors/20003, 20404.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree

import numpy as np
from streamdouble import g711

from tests.phone.conftest import SILENCE, WAIT_BOUND_SECS, Worker, frames, pace

ACCOUNT = "AC" + "0" * 31 + "1"
TOKEN = "fake-twilio-auth-token"


def new_sid(prefix: str = "CA") -> str:
    return prefix + uuid.uuid4().hex


@dataclass
class Request:
    """One REST request the fake received."""

    path: str
    form: dict[str, str]
    at: float  # time.monotonic()


@dataclass
class Answered:
    """A created call the fake "answered": what the answer URL replied."""

    sid: str
    webhook_status: int
    twiml: str
    stream_url: str | None
    parameters: dict[str, str]


class FakeTwilioAPI:
    """See the module doc. ``fail[call_sid] = (status, code, message)`` makes TwiML updates of
    that call fail; every request is in ``requests`` in the order it came."""

    def __init__(self, *, answer: bool = True) -> None:
        self.requests: list[Request] = []
        self.fail: dict[str, tuple[int, int, str]] = {}
        self.answer = answer
        self.answered: list[Answered] = []
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()

    # ---- the REST API ------------------------------------------------------------------------

    def _authorized(self, request: Any) -> bool:
        expected = base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
        return bool(request.headers.get("Authorization", "") == f"Basic {expected}")

    @staticmethod
    def _error(status: int, code: int, message: str) -> Any:
        from aiohttp import web

        body = {"code": code, "message": message, "more_info": "", "status": status}
        return web.json_response(body, status=status)

    async def _update(self, request: Any) -> Any:
        from aiohttp import web

        form = {k: str(v) for k, v in (await request.post()).items()}
        sid = request.match_info["sid"]
        self.requests.append(Request(request.path, form, time.monotonic()))
        if not self._authorized(request):
            return self._error(401, 20003, "Authenticate")
        if request.match_info["account"] != ACCOUNT:
            return self._error(404, 20404, "The requested resource was not found")
        if sid in self.fail and "Twiml" in form:
            return self._error(*self.fail[sid])
        status = "completed" if form.get("Status") == "completed" else "in-progress"
        return web.json_response({"sid": sid, "account_sid": ACCOUNT, "status": status})

    async def _create(self, request: Any) -> Any:
        from aiohttp import web

        form = {k: str(v) for k, v in (await request.post()).items()}
        self.requests.append(Request(request.path, form, time.monotonic()))
        if not self._authorized(request):
            return self._error(401, 20003, "Authenticate")
        sid = new_sid()
        if self.answer:
            asyncio.get_running_loop().create_task(self._pick_up(sid, form))
        body = {"sid": sid, "account_sid": ACCOUNT, "status": "queued", "to": form.get("To")}
        return web.json_response(body, status=201)

    async def _pick_up(self, sid: str, created: dict[str, str]) -> None:
        """The person answered: Twilio asks the call's Url what to do (a signed form)."""
        import aiohttp
        from twilio.request_validator import RequestValidator

        url = created["Url"]
        form = {
            "CallSid": sid,
            "AccountSid": ACCOUNT,
            "From": created["From"],
            "To": created["To"],
            "Direction": "outbound-api",
            "CallStatus": "in-progress",
        }
        signature = RequestValidator(TOKEN).compute_signature(url, form)
        async with aiohttp.ClientSession() as http:
            reply = await http.post(url, data=form, headers={"X-Twilio-Signature": signature})
            twiml = await reply.text()
        stream_url, parameters = None, {}
        with contextlib.suppress(ElementTree.ParseError):
            stream = ElementTree.fromstring(twiml).find("./Connect/Stream")
            if stream is not None:
                stream_url = stream.get("url")
                parameters = {p.get("name", ""): p.get("value", "") for p in stream}
        self.answered.append(Answered(sid, reply.status, twiml, stream_url, parameters))

    # ---- running it ------------------------------------------------------------------------

    def __enter__(self) -> FakeTwilioAPI:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)
        self._thread.start()
        assert self._ready.wait(30), "the fake Twilio API did not start"
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(30)

    async def _serve(self) -> None:
        from aiohttp import web

        app = web.Application()
        root = "/2010-04-01/Accounts/{account}"
        app.router.add_post(root + "/Calls/{sid}.json", self._update)
        app.router.add_post(root + "/Calls.json", self._create)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()

    # ---- what it saw ---------------------------------------------------------------------------

    def updates(self, call_sid: str) -> list[Request]:
        return [r for r in self.requests if r.path.endswith(f"/Calls/{call_sid}.json")]

    def wait(self, what: str, predicate: Any, bound: float = WAIT_BOUND_SECS) -> None:
        deadline = time.monotonic() + bound
        while not predicate():
            assert time.monotonic() < deadline, f"not {what} within {bound} s: {self.requests}"
            time.sleep(0.05)


@dataclass
class TwilioCaller:
    """What a Twilio Media Stream sends, and what came back with its arrival time."""

    call_sid: str = field(default_factory=new_sid)
    stream_sid: str = field(default_factory=lambda: new_sid("MZ"))
    parameters: dict[str, str] = field(default_factory=lambda: {"from_number": "+15550001111"})
    audio_at: list[float] = field(default_factory=list)  # time.monotonic() of each media
    audio: list[np.ndarray] = field(default_factory=list)
    closed_by_bot: bool = False

    def _start(self) -> str:
        start = {
            "accountSid": ACCOUNT,
            "streamSid": self.stream_sid,
            "callSid": self.call_sid,
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": self.parameters,
        }
        message = {"event": "start", "sequenceNumber": "1", "start": start}
        return json.dumps({**message, "streamSid": self.stream_sid})

    def _media(self, pcm: np.ndarray, n: int) -> str:
        payload = base64.b64encode(g711.encode(pcm)).decode()
        media = {"track": "inbound", "chunk": str(n), "timestamp": str(n * 20), "payload": payload}
        return json.dumps(
            {
                "event": "media",
                "sequenceNumber": str(n + 1),
                "media": media,
                "streamSid": self.stream_sid,
            }
        )

    def _stop(self) -> str:
        stop = {"accountSid": ACCOUNT, "callSid": self.call_sid}
        return json.dumps(
            {"event": "stop", "sequenceNumber": "0", "stop": stop, "streamSid": self.stream_sid}
        )

    async def call(
        self, url: str, speech: tuple[float, float], until: Any, *, then_stop: bool = True
    ) -> None:
        """Say ``speech`` (seconds of two_turns.wav), stream silence until ``until()`` is true
        (bounded), then hang up (``stop`` and close), as Twilio does when the call's TwiML
        changes or the caller hangs up."""
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed

        async with connect(url, max_size=2**22) as ws:
            listener = asyncio.create_task(self._listen(ws))
            await ws.send(
                json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})
            )
            await ws.send(self._start())
            started, n = time.monotonic(), 0
            for chunk in frames(speech):
                await ws.send(self._media(chunk, n))
                n += 1
                await pace(started, n)
            deadline = time.monotonic() + WAIT_BOUND_SECS
            while not until() and not listener.done():
                assert time.monotonic() < deadline, "the awaited condition never came"
                try:
                    await ws.send(self._media(SILENCE, n))
                except ConnectionClosed:  # the bot hung up
                    break
                n += 1
                await pace(started, n)
            if then_stop and not listener.done():
                with contextlib.suppress(Exception):
                    await ws.send(self._stop())
                    await ws.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(listener, 30)

    async def _listen(self, ws: Any) -> None:
        try:
            async for message in ws:
                data = json.loads(message)
                if data.get("event") == "media":
                    self.audio_at.append(time.monotonic())
                    self.audio.append(g711.decode(base64.b64decode(data["media"]["payload"])))
        except Exception:
            pass
        self.closed_by_bot = True


@contextlib.contextmanager
def served_worker(bot: Any, calls: int = 2) -> Iterator[Worker]:
    """``bot`` served by a worker app on a loopback port, in a thread (see the module doc)."""
    import uvicorn

    from tests.phone.conftest import START_BOUND_SECS
    from voicebot.server.worker import build_app

    app = build_app(bot, calls=calls, loopback_ice=False, ice_servers=[])
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_BOUND_SECS
    while not (server.started and app.state.playground.ready.is_set()):
        assert thread.is_alive() and time.monotonic() < deadline, "the worker did not start"
        time.sleep(0.1)
    served = Worker(port=sock.getsockname()[1], app=app)
    playground = app.state.playground
    run_call = playground.run_call

    async def remembered(call_id: str, session: Any) -> Any:
        served.seen[call_id] = session
        return await run_call(call_id, session)

    playground.run_call = remembered
    try:
        yield served
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
