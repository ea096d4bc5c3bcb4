"""``voicebot serve``: a supervisor process in front of a pool of warm worker processes.

    voicebot serve examples/offline_bot.py --workers 2           # http://127.0.0.1:7860
    VOICEBOT_SERVE_TOKEN=... voicebot serve bot.py --host 0.0.0.0 --workers 8

Each call runs in a worker process (``voicebot.server.worker``) that loaded the bot's models
before the call arrived (``voicebot.server.pool``). The supervisor answers HTTP and places
calls; WebRTC media then flows between the browser and the worker directly.

Routes: the playground's (``/``, ``/api/offer``, ``/api/sessions/{id}``, ``/api/status``;
``voicebot.server.playground``), each passed to the worker that owns the call, plus

- ``GET /healthz``: 200 while this process is up (a liveness probe; no token);
- ``GET /readyz``: 200 when a warm worker has room and the server is not draining, else
  503 (a readiness probe; no token);
- ``GET /metrics``: Prometheus text: calls active, capacity, starts, ends, failures,
  refusals, worker restarts, and every worker's turn latencies (voice-to-voice, per stage).

**Admission**: an offer that is not one is a 400 here, before any worker sees it; at
capacity a new call is a 503 (``Retry-After``), one client starting calls too often a 429.
**Auth**: off loopback every route but the probes needs ``Authorization: Bearer TOKEN``
(the page passes on ``/?token=TOKEN``); the server refuses to start there without a token.
Call ids are Pipecat's (``uuid4``): a caller reads or ends only a call whose id it was given.
**Drain**: SIGTERM stops admitting (``/readyz`` 503), lets calls finish for
``drain_secs``, then each remaining call says a goodbye and ends; exit 0. A second signal,
or Ctrl-C, stops at once (calls are cut).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.requests import HTTPConnection
from fastapi.responses import HTMLResponse, JSONResponse, Response
from loguru import logger

from voicebot.server.hosts import FORWARDED_HEADER, HostInfo, HostRegistry
from voicebot.server.offers import OfferLimits
from voicebot.server.options import ServeOptions
from voicebot.server.phone_gateway import PhoneGateway, add_phone_routes
from voicebot.server.pool import Worker, WorkerPool

#: The original client's address on an offer one host passes to another (rate limits).
CLIENT_HEADER = "x-voicebot-client"
#: Seconds the calls get to say goodbye and end once the drain deadline has passed.
GOODBYE_SECS = 10.0
#: How many other hosts a call this host has no room for is offered to before a 503.
PLACE_ATTEMPTS = 3


class Supervisor:
    """The server's state: the pool, admission, drain, and what ``/metrics`` counts."""

    def __init__(self, options: ServeOptions, pool: WorkerPool, metrics_dir: Path) -> None:
        self.options = options
        self.pool = pool
        self.metrics_dir = metrics_dir
        self.limits = OfferLimits(pool.capacity, per_client=options.per_client or 1_000_000_000)
        self.refused: Counter[str] = Counter()
        self.draining = False
        self.drained = asyncio.Event()
        self.stages = ""
        self.greeting: str | None = None
        self.hosts: HostRegistry | None = None  # set when serving with --redis
        self._peers: httpx.AsyncClient | None = None  # requests to the other hosts

    # ---- admission -------------------------------------------------------------------------

    def ready(self) -> bool:
        return not self.draining and self.pool.fatal is None and self.pool.free_slots() > 0

    def admit(self, client: str) -> None:
        """Count a new call from ``client`` or raise the 503/429 that refuses it."""
        if self.draining:
            self.refused["draining"] += 1
            raise HTTPException(503, "the server is shutting down", headers={"Retry-After": "5"})
        try:
            self.limits.admit(client, self.pool.active)
        except HTTPException as e:
            self.refused["rate" if e.status_code == 429 else "full"] += 1
            raise

    async def new_call(
        self, fields: dict[str, Any], client: str, *, forwarded: bool = False
    ) -> dict[str, Any]:
        """Place a new call on a worker with room and return its answer; with no room here,
        on another host with room (once: a passed-on offer is never passed on again)."""
        try:
            self.admit(client)
            worker = self.pool.reserve()
            if worker is None:
                self.refused["full"] += 1
                raise HTTPException(
                    503,
                    f"all {self.pool.capacity} lines are busy or starting; try again shortly",
                    headers={"Retry-After": "5"},
                )
        except HTTPException as e:
            if e.status_code != 503 or forwarded or self.hosts is None:
                raise
            return await self._place_elsewhere(fields, client, e)
        return await self._place(worker, fields)

    async def _place_elsewhere(
        self, fields: dict[str, Any], client: str, busy: HTTPException
    ) -> dict[str, Any]:
        """No room here: the host with the most room takes the call. One that does not
        answer (killed: it stays registered until its key expires) or has filled up since
        its last heartbeat is skipped for the next, up to ``PLACE_ATTEMPTS`` hosts; after
        that the caller gets this host's 503."""
        assert self.hosts is not None
        skipped: set[str] = set()
        for _ in range(PLACE_ATTEMPTS):
            other = await self.hosts.pick(avoid=skipped)
            if other is None:
                logger.info("serve: no room here and no other host has room for the call")
                break
            logger.info(f"serve: no room here; the call goes to host {other.id}")
            try:
                return dict(await self.to_host(other, "POST", "/api/offer", fields, client=client))
            except HTTPException as e:
                if e.status_code not in (502, 503):
                    raise  # the offer itself was refused: another host would refuse it too
                logger.warning(f"serve: host {other.id} could not take the call: {e.detail}")
                skipped.add(other.id)
        raise busy

    async def _place(self, worker: Worker, fields: dict[str, Any]) -> dict[str, Any]:
        """The offer to ``worker`` (its slot reserved); a worker that dropped the connection
        (died or hung since its last heartbeat) gets one retry on another."""
        placed = False
        try:
            try:
                answer = await self.pool.request(worker, "POST", "/api/offer", json=fields)
            except httpx.TransportError:
                self.pool.unreserve(worker)
                placed = True  # released: nothing left to undo below
                retry = self.pool.reserve(avoid=worker)
                if retry is None:
                    raise
                worker, placed = retry, False
                answer = await self.pool.request(worker, "POST", "/api/offer", json=fields)
            if answer.status_code >= 400:
                raise _passed_on(answer)
            body = dict(answer.json())
            call_id = str(body.get("pc_id", ""))
            self.pool.placed(worker, call_id)
            placed = True
        except httpx.HTTPError as e:
            detail = f"the worker could not take the call: {type(e).__name__}"
            raise HTTPException(502, detail) from None
        except ValueError:
            raise HTTPException(502, "the worker's answer was not JSON") from None
        finally:
            if not placed:  # any failure: the slot is free again
                self.pool.unreserve(worker)
        if self.hosts is not None:
            await self.hosts.claim(call_id)
        return body

    async def to_owner(
        self, call_id: str, method: str, path: str, json: Any = None, *, forwarded: bool = False
    ) -> Any:
        """Pass a request about ``call_id`` to the worker that owns it, or to the host that
        owns it (404 if none)."""
        worker = self.pool.owner(call_id, ended=method == "GET")
        if worker is None:
            if self.hosts is not None and not forwarded:
                host = await self.hosts.owner(call_id)
                if host is not None:
                    return await self.to_host(host, method, path, json)
            raise HTTPException(404, "no such call (it ended, or it was never placed here)")
        try:
            answer = await self.pool.request(worker, method, path, json=json)
        except httpx.HTTPError as e:
            detail = f"the call's worker did not answer: {type(e).__name__}"
            raise HTTPException(502, detail) from None
        if answer.status_code >= 400:
            raise _passed_on(answer)
        return answer.json()

    async def to_host(
        self, host: HostInfo, method: str, path: str, json: Any = None, *, client: str = ""
    ) -> Any:
        """The same request, to another host (with the shared token, marked as passed on)."""
        if self._peers is None:
            self._peers = httpx.AsyncClient(timeout=30.0)
        assert self.hosts is not None
        headers = {FORWARDED_HEADER: self.hosts.peer_secret, CLIENT_HEADER: client}
        if self.options.token:
            headers["Authorization"] = f"Bearer {self.options.token}"
        try:
            answer = await self._peers.request(method, host.url + path, json=json, headers=headers)
        except httpx.HTTPError as e:
            detail = f"host {host.id} did not answer: {type(e).__name__}"
            raise HTTPException(502, detail) from None
        if answer.status_code >= 400:
            raise _passed_on(answer)
        return answer.json()

    async def close(self) -> None:
        if self.hosts is not None:
            await self.hosts.stop()
        if self._peers is not None:
            await self._peers.aclose()

    # ---- drain -----------------------------------------------------------------------------

    async def drain(self) -> None:
        """Stop admitting, wait for calls to end up to the drain timeout, then end the rest
        with a goodbye; sets ``drained``."""
        if self.draining:
            return
        self.draining = True
        if self.hosts is not None:  # the other hosts stop sending calls here at once
            with contextlib.suppress(Exception):
                await self.hosts.beat()
        deadline = time.monotonic() + self.options.drain_secs
        logger.info(
            f"serve: draining: {self.pool.active} call(s) live; new calls refused; "
            f"waiting up to {self.options.drain_secs:g} s"
        )
        await self._wait_idle(deadline)
        if self.pool.active:
            ending = await self.pool.drain(self.options.goodbye)
            logger.info(f"serve: drain deadline: {ending} call(s) told goodbye")
            await self._wait_idle(time.monotonic() + GOODBYE_SECS)
        logger.info(f"serve: drained ({self.pool.active} call(s) left)")
        self.drained.set()

    async def _wait_idle(self, deadline: float) -> None:
        while self.pool.active and time.monotonic() < deadline:
            self.pool.changed.clear()
            remaining = deadline - time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.pool.changed.wait(), min(1.0, max(0.0, remaining)))

    # ---- metrics ---------------------------------------------------------------------------

    def exposition(self) -> bytes:
        from voicebot.server.exposition import exposition

        return exposition(self)

    def status(self) -> dict[str, Any]:
        return {
            "ready": self.ready(),
            "bot": self.stages,
            "greeting": self.greeting,
            "sessions": self.pool.active,
            "capacity": self.pool.capacity,
            "workers": [
                {"index": w.index, "pid": w.pid, "ready": w.ready, "calls": len(w.calls)}
                for w in sorted(self.pool.workers.values(), key=lambda w: w.index)
            ],
            "draining": self.draining,
            "host": self.hosts.id if self.hosts is not None else None,
        }


def _passed_on(answer: httpx.Response) -> HTTPException:
    """A worker's or another host's error answer, as ours (status, detail, Retry-After)."""
    try:
        detail = str(answer.json().get("detail", answer.text))
    except (ValueError, AttributeError):
        detail = answer.text[:200]
    retry = answer.headers.get("retry-after")
    return HTTPException(
        answer.status_code, detail, headers={"Retry-After": retry} if retry else None
    )


def check_token(request: HTTPConnection, token: str | None) -> None:
    """401 unless ``request`` (HTTP or WebSocket) carries ``token`` (bearer header, or
    ``?token=`` for the page)."""
    if token is None:
        return
    header = request.headers.get("authorization", "")
    given = header[7:] if header[:7].lower() == "bearer " else request.query_params.get("token")
    if not given or not hmac.compare_digest(given.encode(), token.encode()):
        raise HTTPException(401, "a token is needed", headers={"WWW-Authenticate": "Bearer"})


def create_app(options: ServeOptions, pool: WorkerPool, metrics_dir: Path) -> FastAPI:
    """The supervisor's FastAPI app; the pool starts in its lifespan."""
    from voicebot.server.offers import check_candidates, check_offer, client_of, read_json
    from voicebot.server.page import render_page

    sup = Supervisor(options, pool, metrics_dir)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await pool.start()
        if sup.hosts is not None:
            await sup.hosts.start()
        try:
            yield
        finally:
            await sup.close()
            await pool.stop()

    app = FastAPI(
        title="voicebot serve", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.supervisor = sup
    html = render_page(options.ice_servers)  # the browser's side of each call

    def authed(request: Request) -> None:
        check_token(request, options.token)

    guarded = [Depends(authed)]
    add_phone_routes(
        app,
        sup,
        PhoneGateway(sup, public_url=options.public_url, handoff=not options.relay_phone),
        lambda c: check_token(c, options.token),
    )

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> Response:
        ready = sup.ready()
        body = {"ready": ready, "free": pool.free_slots(), "draining": sup.draining}
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics", dependencies=guarded)
    async def metrics() -> Response:
        return Response(sup.exposition(), media_type="text/plain; version=0.0.4")

    @app.get("/", response_class=HTMLResponse, dependencies=guarded)
    async def page() -> HTMLResponse:
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    @app.get("/favicon.ico")
    async def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/api/status", dependencies=guarded)
    async def status() -> dict[str, Any]:
        return sup.status()

    def forwarded(request: Request) -> bool:
        """Passed on by another host: it carries the hosts' shared secret (from Redis, which
        no browser reaches), so a caller cannot claim it to dodge the rate limit."""
        given = request.headers.get(FORWARDED_HEADER)
        if given is None or sup.hosts is None or not sup.hosts.peer_secret:
            return False
        return hmac.compare_digest(given.encode(), sup.hosts.peer_secret.encode())

    @app.post("/api/offer", dependencies=guarded)
    async def offer(
        request: Request,
        body: dict[str, Any] = Depends(read_json),  # noqa: B008
        client: str = Depends(client_of),
    ) -> dict[str, Any]:
        fields = check_offer(body)  # a 400 before any worker sees it
        passed_on = forwarded(request)
        if passed_on:  # count the caller, not the host that passed the offer on
            client = request.headers.get(CLIENT_HEADER) or client
        known = fields.get("pc_id")
        if known and (pool.owner(known) is not None or sup.hosts is not None):
            try:  # renegotiating a live call, here or on another host
                path = "/api/offer"
                return dict(await sup.to_owner(known, "POST", path, fields, forwarded=passed_on))
            except HTTPException as e:
                if e.status_code != 404:
                    raise
        return await sup.new_call(fields, client, forwarded=passed_on)

    @app.patch("/api/offer", dependencies=guarded)
    async def candidates(
        request: Request,
        body: dict[str, Any] = Depends(read_json),  # noqa: B008
    ) -> dict[str, Any]:
        pc_id, _ = check_candidates(body)
        return dict(
            await sup.to_owner(pc_id, "PATCH", "/api/offer", body, forwarded=forwarded(request))
        )

    @app.get("/api/sessions/{pc_id}", dependencies=guarded)
    async def session(request: Request, pc_id: str) -> dict[str, Any]:
        path = f"/api/sessions/{quote(pc_id, safe='')}"  # Pipecat's ids hold a "#"
        return dict(await sup.to_owner(pc_id, "GET", path, forwarded=forwarded(request)))

    @app.delete("/api/sessions/{pc_id}", dependencies=guarded)
    async def hang_up(request: Request, pc_id: str) -> dict[str, Any]:
        path = f"/api/sessions/{quote(pc_id, safe='')}"
        return dict(await sup.to_owner(pc_id, "DELETE", path, forwarded=forwarded(request)))

    return app
