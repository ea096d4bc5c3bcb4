"""A browser playground: talk to a bot over WebRTC from a page this server serves.

    voicebot serve examples/offline_bot.py        # then open http://127.0.0.1:7860

Routes:

- ``GET /``: one self-contained page (inline JS and CSS, nothing fetched from elsewhere)
  that asks for the microphone, connects, plays the bot and shows levels and the transcript.
- ``POST /api/offer``: the browser's SDP offer in, the bot's answer out
  (``{"sdp", "type", "pc_id"}``), through Pipecat's ``SmallWebRTCRequestHandler``. A new
  peer connection starts a session of its own:
  ``await bot.start_session(transport=WebRTCPeer(...))`` run in a background task on its
  own ``WorkerRunner``. A body that is not a real offer is a 4xx (``voicebot.server.offers``)
  before anything is built; so is an offer beyond ``OfferLimits``: 503 when
  ``max_sessions`` are live, 429 when one client starts sessions too often.
- ``PATCH /api/offer``: ICE candidates the browser found after sending its offer
  (``{"pc_id", "candidates": [{"candidate", "sdp_mid", "sdp_mline_index"}]}``).
- ``GET /api/status``: the bot's stages, whether models are loaded, live sessions.
- ``GET /api/sessions/{pc_id}``: that session's completed turns (what the page shows).
- ``DELETE /api/sessions/{pc_id}``: hang up (the page calls it; a closed tab is also
  noticed through the peer connection).

Models load once, at startup (``Bot.prepare()``), before the first caller is answered.

Over ~400 lines on purpose: the routes and the session lifecycle they drive (admission,
renegotiation, hang-up, idle end) read best in one place; the page is ``page.py``, the
checks on what a client sends ``offers.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loguru import logger

from voicebot.errors import ConfigError
from voicebot.server.offers import MAX_SESSIONS, OFFERS_PER_CLIENT, OfferLimits
from voicebot.server.options import LOOPBACK_HOSTS
from voicebot.transports.webrtc import WebRTCPeer, allow_loopback_ice, loopback_ice_from_env

if TYPE_CHECKING:
    from fastapi import FastAPI

    from voicebot.bot import Bot
    from voicebot.metrics.records import TurnRecord
    from voicebot.session import Session

#: Seconds a shutdown waits for sessions to wind down before cancelling them outright.
SHUTDOWN_GRACE_SECS = 5.0
#: Seconds an ended session's turns stay readable at /api/sessions/{pc_id}.
KEEP_ENDED_SECS = 120.0


@dataclass
class LiveSession:
    """One call, running in the background. Once it has ended only its turns are kept (for
    ``KEEP_ENDED_SECS``): the session itself, its pipeline and models' per-call state, is
    let go at once, so the process's memory comes back before the next call."""

    pc_id: str
    session: Session | None
    started_at: float = field(default_factory=time.time)
    task: asyncio.Task[None] | None = None
    ended_at: float | None = None
    turns: list[TurnRecord] = field(default_factory=list)  # kept after the call ended


def release_memory() -> None:
    """Collect garbage and hand freed heap pages back to the OS (glibc's ``malloc_trim``).

    A call's native buffers (ONNX runtime, codecs, audio) are freed into malloc's arenas and
    stay in the process's RSS: measured on examples/fake_bot.py, six calls in a row grew it
    from 193 to 277 MB without this, 186 to 204 MB with it. Only run while no call is live
    here (a full collection pauses the event loop for tens of milliseconds)."""
    import ctypes
    import gc
    import sys

    gc.collect()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").malloc_trim(0)


def freeze_warm_heap() -> None:
    """Move every object alive after warm-up (modules, models, the bot) to the garbage
    collector's permanent generation, so the collections a call triggers, and the one
    ``release_memory`` runs after it, scan only what calls allocated. Before this, the
    after-call collection alone was ~9 % of a phone worker's CPU (py-spy, fake vendors)."""
    import gc

    gc.collect()
    gc.freeze()


def describe_stages(bot: Bot) -> str:
    """``WhisperSTT → LlamaLLM → PiperTTS``: what the page and the startup line show."""
    stages = [bot.realtime] if bot.realtime is not None else [bot.stt, bot.llm, bot.tts]
    return " → ".join(type(p).__name__ for p in stages)


#: What a session imports as it is built and run (the pipeline, voicebot's processors, the
#: phone path), imported while a worker warms up instead of while its first caller waits.
CALL_MODULES = (
    "voicebot.session",
    "voicebot.tools.caller",
    "voicebot.memory.sqlite",
    "voicebot.audio.upsample",
    "pipecat.runner.utils",
    "pipecat.transports.websocket.fastapi",
    "pipecat.serializers.twilio",
    "pipecat.serializers.telnyx",
    "pipecat.serializers.plivo",
    "pipecat.serializers.exotel",
)
CALL_PACKAGES = ("voicebot.processors", "voicebot.text", "voicebot.transports.phone")


def import_call_modules() -> None:
    """Import ``CALL_MODULES`` and every module of ``CALL_PACKAGES`` (one whose optional
    dependency is missing is skipped: the call that needs it will say so)."""
    import importlib
    import pkgutil

    names = list(CALL_MODULES)
    for package in CALL_PACKAGES:
        path = importlib.import_module(package).__path__
        names += [f"{package}.{m.name}" for m in pkgutil.iter_modules(path)]
    for name in names:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


class Playground:
    """The app's state: the bot, the WebRTC request handler and the live sessions.

    ``loopback_ice`` offers 127.0.0.1 as an ICE candidate, for a browser on this machine
    with no other address in common with it (see ``allow_loopback_ice``).
    """

    def __init__(
        self,
        bot: Bot,
        *,
        loopback_ice: bool = False,
        ice_servers: list[str] | None = None,
        announce: str | None = None,
        limits: OfferLimits | None = None,
    ) -> None:
        self.bot = bot
        self.limits = limits or OfferLimits()
        self.loopback_ice = loopback_ice
        self.ice_servers = ice_servers or []
        self.announce = announce
        self.sessions: dict[str, LiveSession] = {}
        self.ready = asyncio.Event()
        self._handler: Any = None
        self._starting = 0  # offers admitted whose session is not live yet

    # ---- startup and shutdown --------------------------------------------------------------

    def check(self) -> None:
        """Raise a ``ConfigError`` naming the fix if the bot cannot be served here."""
        WebRTCPeer.check_installed()
        ctx = self.bot.build_context()
        stages = self.bot.model_stages()
        for provider in stages:
            provider.check(ctx)
        from voicebot.providers.pipecat_service import refuse_instances

        refuse_instances(stages, "voicebot serve")
        if self.bot.retrieval is not None:
            self.bot.retrieval.check()  # e.g. the embedding model is installed

    async def startup(self) -> None:
        from pipecat.transports.smallwebrtc.connection import IceServer
        from pipecat.transports.smallwebrtc.request_handler import SmallWebRTCRequestHandler

        if self.loopback_ice:
            allow_loopback_ice()
        self.check()
        servers = [IceServer(urls=url) for url in self.ice_servers]
        self._handler = SmallWebRTCRequestHandler(ice_servers=servers or None)
        logger.info(f"playground: loading models for {describe_stages(self.bot)}...")
        start = time.perf_counter()
        await self.bot.prepare(transport=WebRTCPeer())
        self._warm_up()
        logger.info(f"playground: models ready in {time.perf_counter() - start:.1f}s")
        self.ready.set()
        if self.announce:
            print(self.announce, flush=True)

    def _warm_up(self) -> None:
        """Build each stage once and throw it away, and import what a call needs, so the
        first caller does not wait for the imports and one-off setup of a first build (a
        second or so on a small CPU; a phone call was answered in 0.34 s instead of ~0.1 s)."""
        from pipecat.transports.smallwebrtc.transport import SmallWebRTCTransport  # noqa: F401

        import_call_modules()
        ctx = self.bot.build_context()
        for provider in self.bot.model_stages():
            provider.build(ctx)  # type: ignore[attr-defined]  # every model stage builds
        freeze_warm_heap()

    async def shutdown(self) -> None:
        live = [s for s in self.sessions.values() if s.task is not None and not s.task.done()]
        for s in live:
            if s.session is not None:
                await s.session.worker.cancel(reason="server shutting down")
        tasks = [s.task for s in live if s.task is not None]
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE_SECS)
            for task in pending:
                task.cancel()
        if self._handler is not None:
            await self._handler.close()

    # ---- sessions --------------------------------------------------------------------------

    async def start_session(self, connection: Any) -> LiveSession:
        """Build a session for a new peer connection and run it in the background; the
        ONNX analyzers are built in a worker thread, so live calls are not stalled."""
        start = time.perf_counter()
        # The bot's own WebRTCPeer options (its deadlines), if it names one.
        chosen = self.bot.transport if isinstance(self.bot.transport, WebRTCPeer) else WebRTCPeer()
        peer = chosen.model_copy(update={"connection": connection})
        session = await self.bot.start_session(transport=peer)
        live = LiveSession(pc_id=connection.pc_id, session=session)
        self.sessions[live.pc_id] = live
        live.task = asyncio.create_task(self._run(live), name=f"voicebot session {live.pc_id}")
        logger.info(
            f"playground: session {live.pc_id} built in {time.perf_counter() - start:.2f}s "
            f"({len(self.live())} live)"
        )
        return live

    async def run_call(self, call_id: str, session: Session) -> LiveSession:
        """Run a session whose caller is not a WebRTC peer (a phone call's media stream) in
        the background, registered as ``call_id`` like any other, so the worker's heartbeat
        and hang-up find it; its task ends with the call."""
        if call_id in self.sessions:
            raise ValueError(f"a session {call_id!r} already exists")
        live = LiveSession(pc_id=call_id, session=session)
        self.sessions[call_id] = live
        live.task = asyncio.create_task(self._run(live), name=f"voicebot session {call_id}")
        logger.info(f"playground: call {call_id} started ({len(self.live())} live)")
        return live

    async def _run(self, live: LiveSession) -> None:
        assert live.session is not None
        try:
            # Every line the session's tasks log carries its call id (cli._where).
            with logger.contextualize(call_id=live.pc_id):
                await live.session.run(handle_sigint=False)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            logger.opt(exception=e).error(f"playground: session {live.pc_id} failed: {e}")
        finally:
            live.ended_at = time.time()
            live.turns, live.session = list(live.session.turns), None
            if not self.live():  # nothing else runs here: give the memory back now
                release_memory()
            logger.info(
                f"playground: session {live.pc_id} ended after "
                f"{live.ended_at - live.started_at:.1f}s ({len(self.live())} live)"
            )
            # Forget it a little later: the page may still read its last turns.
            asyncio.get_running_loop().call_later(
                KEEP_ENDED_SECS, self.sessions.pop, live.pc_id, None
            )

    def live(self) -> list[LiveSession]:
        return [s for s in self.sessions.values() if s.ended_at is None]

    async def offer(self, body: dict[str, Any], client: str = "unknown") -> dict[str, str]:
        """The answer to ``client``'s offer; a new peer connection starts a session."""
        from fastapi import HTTPException
        from pipecat.transports.smallwebrtc.request_handler import SmallWebRTCRequest

        from voicebot.server.offers import check_offer

        fields = check_offer(body)  # a 400 before anything is built
        known = self.sessions.get(fields.get("pc_id") or "")
        # A renegotiation of a live session builds nothing; anything else is counted (a 503
        # or 429 here) and holds a slot while it is answered (its session is live by then:
        # nothing is awaited between the callback and the handler's return).
        new = known is None or known.ended_at is not None
        if new:
            self.limits.admit(client, len(self.live()) + self._starting)
        self._starting += new
        failed: list[Exception] = []

        async def connected(connection: Any) -> None:
            try:
                await self.start_session(connection)
            except Exception as e:  # the handler would only log it and answer anyway
                failed.append(e)
                await connection.disconnect()

        start = time.perf_counter()
        try:
            await self.ready.wait()
            request = SmallWebRTCRequest.from_dict(fields)
            answer = await self._handler.handle_web_request(request, connected)
        except HTTPException:
            raise
        except Exception as e:
            raise HTTPException(400, f"could not answer the offer: {e}") from e
        finally:
            self._starting -= new
        if failed:
            detail = str(failed[0]) if isinstance(failed[0], ConfigError) else repr(failed[0])
            raise HTTPException(500, f"the bot could not start: {detail}")
        assert answer is not None
        logger.debug(f"playground: answered in {time.perf_counter() - start:.2f}s")
        return answer

    async def candidates(self, body: dict[str, Any]) -> None:
        from fastapi import HTTPException
        from pipecat.transports.smallwebrtc.request_handler import (
            IceCandidate,
            SmallWebRTCPatchRequest,
        )

        from voicebot.server.offers import check_candidates

        pc_id, candidates = check_candidates(body)
        request = SmallWebRTCPatchRequest(
            pc_id=pc_id, candidates=[IceCandidate(**c) for c in candidates]
        )
        try:
            await self._handler.handle_patch_request(request)
        except HTTPException:
            raise  # 404: no such peer connection
        except Exception as e:  # aiortc refusing a candidate: the request's fault
            raise HTTPException(400, f"could not add the candidates: {type(e).__name__}") from e

    def session_view(self, pc_id: str) -> dict[str, Any]:
        from fastapi import HTTPException

        live = self.sessions.get(pc_id)
        if live is None:
            raise HTTPException(404, "no such session")
        return {
            "pc_id": pc_id,
            "running": live.ended_at is None,
            "turns": [
                {
                    "index": t.index,
                    "user": t.user_text,
                    "bot": t.bot_text,
                    "interrupted": t.interrupted,
                    "voice_to_voice_secs": t.voice_to_voice_secs,
                    # Where that time went, by stage key (voicebot.metrics.STAGES).
                    "stages": t.stages,
                }
                for t in (live.session.turns if live.session is not None else live.turns)
            ],
        }

    async def hang_up(self, pc_id: str) -> None:
        live = self.sessions.get(pc_id)
        if live is not None and live.ended_at is None and live.session is not None:
            logger.info(f"playground: session {pc_id}: the browser hung up")
            # Cancel rather than end, for the reason in WebRTCPeer.on_client_gone.
            await live.session.worker.cancel(reason="the browser hung up")

    async def end_all(self, *, goodbye: str) -> int:
        """End every live session after it says ``goodbye`` (a server draining at its
        deadline); returns how many. The goodbye is queued behind what the bot is saying."""
        live = self.live()
        for s in live:
            logger.info(f"playground: session {s.pc_id}: ending it with a goodbye")
            if s.session is not None:
                await s.session.end(goodbye=goodbye)
        return len(live)

    def status(self) -> dict[str, Any]:
        return {
            "ready": self.ready.is_set(),
            "bot": describe_stages(self.bot),
            "greeting": self.bot.greeting,
            "sessions": len(self.live()),
        }


def create_app(
    bot: Bot,
    *,
    loopback_ice: bool = False,
    ice_servers: list[str] | None = None,
    announce: str | None = None,
    limits: OfferLimits | None = None,
) -> FastAPI:
    """The playground as a FastAPI app; models load in its startup (lifespan).

    ``ice_servers``: STUN/TURN URLs, only needed when the browser is on another network.
    ``announce`` is printed once the bot is ready. ``limits``: live sessions and new
    sessions per client (default ``OfferLimits()``: 8 live, 5 per client per 10 s).
    """
    from fastapi import Depends, FastAPI
    from fastapi.responses import HTMLResponse, Response

    from voicebot.server.offers import client_of, read_json
    from voicebot.server.page import render_page

    playground = Playground(
        bot, loopback_ice=loopback_ice, ice_servers=ice_servers, announce=announce, limits=limits
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await playground.startup()
        try:
            yield
        finally:
            await playground.shutdown()

    app = FastAPI(title="voicebot playground", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.playground = playground
    html = render_page(playground.ice_servers)  # the browser's side gets them too

    @app.get("/", response_class=HTMLResponse)
    async def page() -> HTMLResponse:
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    @app.get("/favicon.ico")
    async def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/api/status")
    async def status() -> dict[str, Any]:
        return playground.status()

    # Bodies are read by ``read_json``, capped at offers.MAX_BODY_BYTES, then checked.
    @app.post("/api/offer")
    async def offer(
        body: dict[str, Any] = Depends(read_json),  # noqa: B008
        client: str = Depends(client_of),
    ) -> dict[str, str]:
        return await playground.offer(body, client)

    @app.patch("/api/offer")
    async def candidates(body: dict[str, Any] = Depends(read_json)) -> dict[str, str]:  # noqa: B008
        await playground.candidates(body)
        return {"status": "success"}

    @app.get("/api/sessions/{pc_id}")
    async def session(pc_id: str) -> dict[str, Any]:
        return playground.session_view(pc_id)

    @app.delete("/api/sessions/{pc_id}")
    async def hang_up(pc_id: str) -> dict[str, str]:
        await playground.hang_up(pc_id)
        return {"status": "ending"}

    return app


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (``port=0``: any free port), or a ``ConfigError``."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as e:
        raise ConfigError(
            f"cannot listen on {host}:{port}: {e.strerror or e}: choose another --port or --host"
        ) from e
    return sock


def serve(
    bot: Bot,
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    loopback_ice: bool | None = None,
    name: str | None = None,
    verbose: bool = False,
    max_sessions: int = MAX_SESSIONS,
    ice_servers: list[str] | None = None,
    per_client: int = OFFERS_PER_CLIENT,
) -> None:
    """Serve the playground until Ctrl-C; prints its URL once the models are loaded.

    ``port=0`` takes any free port (the printed URL says which). ``loopback_ice`` defaults
    to ``VOICEBOT_LOOPBACK_ICE`` if set, else to whether ``host`` is a loopback address (the
    browser is then on this machine). ``max_sessions``: live sessions at once; a browser
    beyond them is answered 503. ``ice_servers``: STUN/TURN URLs (``create_app``).
    ``per_client``: new sessions one client may start per 10 s (0: no limit), beyond: 429.
    """
    import uvicorn

    if max_sessions < 1:
        raise ConfigError(f"--max-sessions {max_sessions}: give 1 or more")
    if per_client < 0:
        raise ConfigError(f"--per-client {per_client}: give 0 (no limit) or more")
    if loopback_ice is None:
        loopback_ice = loopback_ice_from_env(default=host in LOOPBACK_HOSTS)
    sock = listen(host, port)  # before loading models: a taken port fails at once
    port = sock.getsockname()[1]
    url_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url_host = f"[{url_host}]" if ":" in url_host else url_host
    what = f" {name}" if name else ""
    app = create_app(
        bot,
        loopback_ice=loopback_ice,
        ice_servers=ice_servers,
        announce=f"voicebot: playground for{what} at http://{url_host}:{port}/ (Ctrl-C to stop)",
        limits=OfferLimits(max_sessions, per_client=per_client or 1_000_000_000),
    )
    try:
        app.state.playground.check()  # a bad spec fails here, before the server starts
        config = uvicorn.Config(
            app,
            log_level="info" if verbose else "warning",
            access_log=verbose,
            lifespan="on",
        )
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
