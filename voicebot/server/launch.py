"""Running ``voicebot serve``: the listening socket, the worker command line, uvicorn with
SIGTERM meaning "drain first", and the exit status.

The routes and the supervisor's state are ``voicebot.server.supervisor``; the workers'
pool ``voicebot.server.pool``. Split from the supervisor so each reads whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from types import FrameType
from typing import Any

from loguru import logger

from voicebot.errors import ConfigError
from voicebot.server.hosts import HostRegistry
from voicebot.server.pool import WorkerPool, worker_env
from voicebot.server.supervisor import ServeOptions, Supervisor, create_app


def worker_command(options: ServeOptions) -> Any:
    """The command line of worker ``index`` on ``socket``."""

    def command(index: int, socket: Path) -> list[str]:
        argv = [
            sys.executable,
            "-m",
            "voicebot.server.worker",
            options.target,
            "--socket",
            str(socket),
            "--calls",
            str(options.calls_per_worker),
            "--index",
            str(index),
            "--parent",
            str(os.getpid()),
        ]
        if options.loopback_ice:
            argv.append("--loopback-ice")
        for url in options.ice_servers:
            argv += ["--ice-server", url]
        if options.verbose:
            argv.append("-v")
        return argv

    return command


def serve(options: ServeOptions, *, describe: str = "", greeting: str | None = None) -> int:
    """Run the supervisor until SIGTERM (drain) or Ctrl-C; returns the exit status."""
    import uvicorn

    from voicebot.server.playground import listen

    options.check()
    sock = listen(options.host, options.port)  # a taken port fails before any worker starts
    port = sock.getsockname()[1]
    metrics_dir = Path(tempfile.mkdtemp(prefix="voicebot-metrics-"))
    pool = WorkerPool(
        worker_command(options),
        workers=options.workers,
        calls_per_worker=options.calls_per_worker,
        env=worker_env({"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}),
        hang_secs=options.hang_secs,
    )
    pool.on_exit = lambda worker: forget_metrics(worker.pid, metrics_dir)
    app = create_app(options, pool, metrics_dir)
    sup: Supervisor = app.state.supervisor
    sup.stages, sup.greeting = describe, greeting
    url_host = "127.0.0.1" if options.host in ("0.0.0.0", "::") else options.host
    url_host = f"[{url_host}]" if ":" in url_host else url_host
    if options.redis_url:
        sup.hosts = host_registry(options, sup, options.advertise or f"http://{url_host}:{port}")
    server = DrainingServer(
        uvicorn.Config(
            app,
            log_level="info" if options.verbose else "warning",
            access_log=options.verbose,
            lifespan="on",
            # Carrier media streams are base64 audio in small JSON messages, 50 a second per
            # call: deflating them costs CPU (the limit of a phone server) and saves little.
            ws_per_message_deflate=False,
            # Named, not "auto": handing a phone call's socket to its worker reads this
            # implementation's connection (voicebot.server.socket_handoff).
            ws="websockets-sansio",
        ),
        sup,
    )
    query = "?token=<token>" if options.token else ""
    server.announce = (
        f"voicebot: serving {options.target} at http://{url_host}:{port}/{query} with "
        f"{options.workers} worker(s) × {options.calls_per_worker} call(s) (Ctrl-C to stop)"
    )
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        shutil.rmtree(metrics_dir, ignore_errors=True)
    if pool.fatal is not None:
        raise ConfigError(f"the bot's workers could not start: {pool.fatal}")
    return 130 if server.interrupted else 0


def forget_metrics(pid: int | None, metrics_dir: Path) -> None:
    """A dead worker's live gauges leave ``/metrics`` (its counters stay counted)."""
    if pid is None:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, str(metrics_dir))


def host_registry(options: ServeOptions, sup: Supervisor, url: str) -> HostRegistry:
    """This host's entry in the shared Redis; Redis is pinged first, so a wrong URL is one
    line before any worker starts."""
    assert options.redis_url is not None
    try:
        import redis
    except ImportError as e:
        raise ConfigError('--redis needs the redis client: pip install "voicebot[redis]"') from e
    try:
        redis.Redis.from_url(options.redis_url, socket_timeout=3.0).ping()
    except (redis.RedisError, ValueError) as e:
        raise ConfigError(f"--redis: cannot reach Redis: {e}") from e
    pool = sup.pool

    def describe() -> tuple[int, int, bool]:
        return pool.capacity, 0 if sup.draining else pool.free_slots(), sup.draining

    def live_calls() -> list[str]:
        return [call for worker in pool.workers.values() for call in worker.calls]

    registry = HostRegistry(options.redis_url, url, describe=describe, live_calls=live_calls)
    pool.on_change.append(registry.nudge)
    return registry


class DrainingServer:
    """uvicorn's server with SIGTERM meaning "drain first" (see the module doc)."""

    def __init__(self, config: Any, supervisor: Supervisor) -> None:
        import uvicorn

        outer = self

        class _Server(uvicorn.Server):
            def handle_exit(self, sig: int, frame: FrameType | None) -> None:
                outer.on_signal(sig, frame)

        self.server = _Server(config)
        self.supervisor = supervisor
        self.announce = ""
        self.interrupted = False  # stopped by Ctrl-C (exit status 130), not by a drain
        self._loop: asyncio.AbstractEventLoop | None = None

    def on_signal(self, sig: int, frame: FrameType | None) -> None:
        sup = self.supervisor
        if sig == signal.SIGTERM and not sup.draining and self._loop is not None:
            self._loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self._drain()))
            return
        # Ctrl-C, or a second signal: stop now (uvicorn's own handling, without re-raising
        # the signal afterwards, so the exit status stays ours).
        uvicorn_server = self.server
        self.interrupted = self.interrupted or sig == signal.SIGINT
        if uvicorn_server.should_exit and sig == signal.SIGINT:
            uvicorn_server.force_exit = True
        uvicorn_server.should_exit = True

    async def _drain(self) -> None:
        await self.supervisor.drain()
        self.server.should_exit = True

    async def _watch(self) -> None:
        """Announce readiness once every worker is warm; stop if they cannot start."""
        pool = self.supervisor.pool
        while not self.server.started:
            await asyncio.sleep(0.05)
        logger.info(f"serve: starting {pool.size} worker(s); loading the bot's models")
        if await pool.wait_ready():
            if self.supervisor.hosts is not None:  # the others see our room before we say so
                with contextlib.suppress(Exception):
                    await self.supervisor.hosts.beat()
            print(self.announce, flush=True)
            while pool.fatal is None:  # a bot that stops starting ends the server, loudly
                pool.changed.clear()
                await pool.changed.wait()
        self.server.should_exit = True

    def run(self, sockets: list[Any]) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            watch = asyncio.create_task(self._watch())
            try:
                await self.server.serve(sockets=sockets)
            finally:
                watch.cancel()

        asyncio.run(main())
