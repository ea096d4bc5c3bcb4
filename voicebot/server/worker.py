"""One worker process of ``voicebot serve``: the bot's models loaded once, calls taken one by one.

The supervisor (``voicebot.server.supervisor``) starts each worker as
``python -m voicebot.server.worker TARGET --socket PATH --calls N --index I`` and talks to it
over HTTP on that Unix socket (in a directory only this user can enter). A worker is the
in-process playground (``voicebot.server.playground``) for at most ``--calls`` sessions,
plus three routes for its supervisor:

- ``GET /worker/calls``: ``{"ready", "calls": [ids]}``, the heartbeat: a worker whose event
  loop is blocked stops answering it and is replaced;
- ``POST /worker/drain``: every live call says ``{"goodbye"}`` and ends.

Why processes: a call in its own process cannot stall, leak into or crash another call, and
the CPU-heavy stages of two calls no longer share one GIL and one event loop (docs/serving.md).
The worker exits when its supervisor dies (``PR_SET_PDEATHSIG`` on Linux, and a watch on the
parent pid elsewhere), so a killed supervisor leaves no orphans holding models in memory.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import os
import signal
import sys
from typing import Any

from loguru import logger

from voicebot.errors import ConfigError
from voicebot.server.options import DEFAULT_GOODBYE


def die_with_parent() -> None:
    """Ask Linux to SIGTERM this process when its parent dies (a no-op elsewhere)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


async def watch_parent(parent: int) -> None:
    """End this worker once its supervisor is gone (the portable half of ``die_with_parent``)."""
    while os.getppid() == parent:
        await asyncio.sleep(1.0)
    logger.warning("worker: the supervisor is gone; stopping")
    os.kill(os.getpid(), signal.SIGTERM)


def build_app(bot: Any, *, calls: int, loopback_ice: bool, ice_servers: list[str]) -> Any:
    """The playground app for ``calls`` sessions, with the supervisor's routes added."""
    from fastapi import Depends

    from voicebot.server.offers import OfferLimits, read_json
    from voicebot.server.phone import add_phone_routes
    from voicebot.server.playground import create_app

    # The supervisor admits calls (and rate-limits clients); every request here comes from
    # it, or is a phone socket it admitted and handed over, so the per-client limit must not
    # count anyone here.
    limits = OfferLimits(calls, per_client=1_000_000)
    app = create_app(bot, loopback_ice=loopback_ice, ice_servers=ice_servers, limits=limits)
    playground = app.state.playground
    add_phone_routes(app, playground)  # carriers' media streams: /phone/ws[/{carrier}]

    @app.get("/worker/calls")
    async def worker_calls() -> dict[str, Any]:
        return {"ready": playground.ready.is_set(), "calls": [s.pc_id for s in playground.live()]}

    @app.post("/worker/drain")
    async def worker_drain(body: dict[str, Any] = Depends(read_json)) -> dict[str, int]:  # noqa: B008
        goodbye = body.get("goodbye")
        text = goodbye if isinstance(goodbye, str) and goodbye.strip() else DEFAULT_GOODBYE
        return {"ending": await playground.end_all(goodbye=text)}

    return app


async def take_handed_calls(server: Any, socket_path: str) -> None:
    """Once ``server`` is up: adopt the phone calls' sockets the supervisor hands over
    (``voicebot.server.socket_handoff``), until cancelled."""
    from voicebot.server.socket_handoff import SUPPORTED, HandoffListener, handoff_path

    if not SUPPORTED:
        return
    while not server.started:  # until then the supervisor relays (no handoff socket yet)
        await asyncio.sleep(0.01)
    listener = HandoffListener(server, handoff_path(socket_path))
    try:
        await listener.start()
    except OSError as e:  # the supervisor relays this worker's calls instead
        logger.error(f"worker: no handoff socket ({e}); phone calls will be relayed")
        return
    try:
        await asyncio.Event().wait()
    finally:
        await listener.close()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m voicebot.server.worker")
    parser.add_argument("target")
    parser.add_argument("--socket", required=True)
    parser.add_argument("--calls", type=int, default=1)
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--parent", type=int, default=0, help="the supervisor's pid")
    parser.add_argument("--loopback-ice", action="store_true")
    parser.add_argument("--ice-server", action="append", default=[])
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser.parse_args(argv)


def record_metrics(bot: Any) -> Any:
    """The bot, recording its turns into the supervisor's Prometheus files when the
    supervisor collects them (``PROMETHEUS_MULTIPROC_DIR``), never serving a port of its own
    (N workers on one port would collide: the supervisor serves ``/metrics`` for all)."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return bot.replace(prometheus=None) if bot.prometheus is not None else bot
    from voicebot.metrics.prometheus import Prometheus

    return bot.replace(prometheus=Prometheus(port=None))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    die_with_parent()  # first, before the seconds of imports below
    parent = args.parent or os.getppid()
    if os.getppid() != parent:  # the supervisor died before prctl took effect
        return 0
    import uvicorn

    from voicebot import redaction
    from voicebot.bot_file import load_bot
    from voicebot.cli import log_to_stderr
    from voicebot.env import load_env

    redaction.register_env(load_env())
    redaction.install()
    logger.configure(extra={"worker": f"w{args.index}"})
    log_to_stderr(verbose=args.verbose)
    try:
        bot = record_metrics(load_bot(args.target))
        app = build_app(
            bot, calls=args.calls, loopback_ice=args.loopback_ice, ice_servers=args.ice_server
        )
    except ConfigError as e:
        print(f"voicebot worker w{args.index}: {redaction.redact(str(e))}", file=sys.stderr)
        return 2

    # No permessage-deflate: on the Unix socket only the supervisor connects, and the phone
    # sockets it hands over (socket_handoff) carry small media messages, 50 a second.
    config = uvicorn.Config(
        app,
        uds=args.socket,
        log_level="warning",
        lifespan="on",
        ws_per_message_deflate=False,
        ws="websockets-sansio",  # the protocol handed-over sockets are adopted into
    )
    server = uvicorn.Server(config)

    async def serve() -> None:
        watcher = asyncio.create_task(watch_parent(parent))
        handoff = asyncio.create_task(take_handed_calls(server, args.socket))
        try:
            await server.serve()
        finally:
            watcher.cancel()
            handoff.cancel()
            await asyncio.gather(handoff, return_exceptions=True)

    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
