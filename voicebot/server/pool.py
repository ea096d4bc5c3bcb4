"""The supervisor's pool of warm worker processes: start them, place calls, watch, replace.

Each worker (``voicebot.server.worker``) is a process of its own that loads the bot's models
once and then takes calls, ``calls_per_worker`` at a time. The pool

- starts ``workers`` of them at once, in their own process groups (a Ctrl-C in the terminal
  reaches the supervisor only, which then stops them in order);
- **heartbeats** each one over its Unix socket (``GET /worker/calls``, every
  ``heartbeat_secs``): the answer says whether its models are loaded and which calls are
  live, so a call that ended frees its slot within one heartbeat; a worker that has not
  answered for ``hang_secs`` (its event loop blocked) is killed and replaced;
- **replaces** a worker that exits, at once after it had served, with a growing pause
  after a worker that died before it was ready; three such deaths in a row end the pool with
  ``fatal`` set (a bot that cannot start is a loud error, not a restart loop);
- **places** a new call on the ready worker with the most room (``reserve``), and knows
  which worker owns each call (``owner``), so later requests about it go to the same process.

Counts for ``/metrics`` are kept in ``PoolStats``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from loguru import logger

#: Deaths before readiness, in a row, after which the pool gives up.
MAX_START_FAILURES = 3
#: Longest pause between restarts of a worker that keeps dying before it is ready.
MAX_RESTART_PAUSE_SECS = 30.0

#: Seconds a placed call may go unreported by its worker before it counts as ended (a phone
#: call is registered once the carrier's ``start`` arrives; the worker closes a socket with
#: none after 10 s).
UNCONFIRMED_SECS = 30.0
#: Seconds an ended call's turns stay readable through the supervisor (as in the worker).
KEEP_ENDED_SECS = 120.0

#: The command line of worker ``index`` listening on ``socket``.
WorkerCommand = Callable[[int, Path], Sequence[str]]


@dataclass
class PoolStats:
    """What happened to calls and workers since the pool started (for ``/metrics``)."""

    call_starts: int = 0
    call_ends: int = 0
    call_failures: int = 0  # calls lost with a worker that died or was killed
    restarts: Counter[str] = field(default_factory=Counter)  # by reason: died, hung, ...


@dataclass
class Worker:
    """One worker process as the supervisor sees it."""

    index: int
    socket: Path
    client: httpx.AsyncClient
    process: asyncio.subprocess.Process | None = None
    ready: bool = False
    was_ready: bool = False
    calls: dict[str, float] = field(default_factory=dict)  # call id -> when placed
    confirmed: set[str] = field(default_factory=set)  # calls the worker has reported live
    reserved: int = 0  # calls being answered (an offer in flight)
    started_at: float = field(default_factory=time.monotonic)
    last_seen: float | None = None
    kill_reason: str | None = None

    @property
    def load(self) -> int:
        return len(self.calls) + self.reserved

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None


class WorkerPool:
    """``workers`` warm processes taking ``calls_per_worker`` calls each (see module doc)."""

    def __init__(
        self,
        command: WorkerCommand,
        *,
        workers: int,
        calls_per_worker: int = 1,
        env: dict[str, str] | None = None,
        heartbeat_secs: float = 0.5,
        hang_secs: float = 10.0,
        start_timeout_secs: float = 600.0,
    ) -> None:
        if workers < 1 or calls_per_worker < 1:
            raise ValueError("workers and calls_per_worker must be >= 1")
        self.command = command
        self.size = workers
        self.calls_per_worker = calls_per_worker
        self.env = env
        self.heartbeat_secs = heartbeat_secs
        self.hang_secs = hang_secs
        self.start_timeout_secs = start_timeout_secs
        self.stats = PoolStats()
        self.workers: dict[int, Worker] = {}
        self.ended: dict[str, tuple[Worker, float]] = {}  # call id -> its worker, when it ended
        self.fatal: str | None = None
        self.on_exit: Callable[[Worker], None] | None = None  # e.g. metrics for a dead pid
        self._ever_ready = False
        self.changed = asyncio.Event()  # set whenever readiness or load changes
        #: Called whenever readiness or load changes (the host registry re-announces at once).
        self.on_change: list[Callable[[], None]] = []
        self._dir: Path | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    # ---- capacity ------------------------------------------------------------------------

    @property
    def capacity(self) -> int:
        return self.size * self.calls_per_worker

    @property
    def active(self) -> int:
        """Calls live or being answered, on every worker."""
        return sum(w.load for w in self.workers.values())

    def ready_workers(self) -> list[Worker]:
        """Workers with models loaded that answered a heartbeat lately (a worker that just
        hung or died is not given a call while the pool has yet to notice)."""
        now = time.monotonic()
        fresh = max(2.0, 4 * self.heartbeat_secs)
        return [
            w
            for w in self.workers.values()
            if w.ready and w.last_seen is not None and now - w.last_seen <= fresh
        ]

    def free_slots(self) -> int:
        """Calls the ready workers can take now."""
        return sum(max(0, self.calls_per_worker - w.load) for w in self.ready_workers())

    def reserve(self, *, avoid: Worker | None = None) -> Worker | None:
        """A slot on the ready worker with the most room (not ``avoid``), or None;
        ``placed``/``unreserve`` must follow."""
        room = [
            w for w in self.ready_workers() if w.load < self.calls_per_worker and w is not avoid
        ]
        if not room:
            return None
        worker = min(room, key=lambda w: (w.load, w.index))
        worker.reserved += 1
        self._changed()
        return worker

    def unreserve(self, worker: Worker) -> None:
        worker.reserved = max(0, worker.reserved - 1)
        self._changed()

    def placed(self, worker: Worker, call_id: str) -> None:
        """The reserved slot now holds ``call_id``."""
        worker.reserved = max(0, worker.reserved - 1)
        if call_id not in worker.calls:
            worker.calls[call_id] = time.monotonic()
            self.stats.call_starts += 1
        self._changed()

    def owner(self, call_id: str, *, ended: bool = False) -> Worker | None:
        """The worker running ``call_id``; with ``ended``, also one whose call ended in the
        last ``KEEP_ENDED_SECS`` (its turns stay readable there) if that worker lives."""
        for worker in self.workers.values():
            if call_id in worker.calls:
                return worker
        if ended and call_id in self.ended:
            worker, _at = self.ended[call_id]
            if self.workers.get(worker.index) is worker and worker.ready:
                return worker
        return None

    # ---- talking to workers ----------------------------------------------------------------

    async def request(
        self, worker: Worker, method: str, path: str, *, json: Any = None, timeout: float = 30.0
    ) -> httpx.Response:
        """An HTTP request to ``worker`` over its socket (raises ``httpx.HTTPError``)."""
        return await worker.client.request(method, path, json=json, timeout=timeout)

    async def drain(self, goodbye: str) -> int:
        """Ask every worker with calls to end them after ``goodbye``; returns how many."""
        ending = 0
        for worker in list(self.workers.values()):
            if worker.calls and worker.ready:
                with contextlib.suppress(httpx.HTTPError, ValueError):
                    answer = await self.request(
                        worker, "POST", "/worker/drain", json={"goodbye": goodbye}, timeout=5.0
                    )
                    ending += int(answer.json().get("ending", 0))
        return ending

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Start every worker (returns at once; ``wait_ready`` waits for them)."""
        # Sockets live in a directory only this user can enter (uvicorn makes them 0666).
        self._dir = Path(tempfile.mkdtemp(prefix="voicebot-serve-"))
        for index in range(self.size):
            self._tasks.append(
                asyncio.create_task(self._supervise(index), name=f"voicebot worker w{index}")
            )

    async def wait_ready(self, count: int | None = None, timeout: float | None = None) -> bool:
        """Until ``count`` workers (default all) are ready; False on timeout or ``fatal``."""
        want = self.size if count is None else count

        async def wait() -> None:
            while len(self.ready_workers()) < want and self.fatal is None:
                self.changed.clear()
                await self.changed.wait()

        try:
            await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            return False
        return self.fatal is None

    async def stop(self, grace_secs: float = 5.0) -> None:
        """SIGTERM every worker, SIGKILL what is left after ``grace_secs``; idempotent."""
        self._stopping = True
        for task in self._tasks:  # no replacement starts from here on
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        procs = [w.process for w in self.workers.values() if w.process is not None]
        for proc in procs:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.terminate()
        if procs:
            _done, pending = await asyncio.wait(
                [asyncio.create_task(p.wait()) for p in procs], timeout=grace_secs
            )
            for proc in procs:
                if proc.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
            if pending:
                await asyncio.wait(pending, timeout=grace_secs)
        for worker in self.workers.values():
            await worker.client.aclose()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)

    def kill(self, worker: Worker, reason: str, why: str = "") -> None:
        """SIGKILL ``worker`` (its supervising task replaces it); ``reason`` labels the
        restart in ``PoolStats`` (``hung``, ``start_timeout``), ``why`` is logged."""
        if worker.process is not None and worker.process.returncode is None:
            worker.kill_reason = reason
            logger.warning(
                f"serve: worker w{worker.index} (pid {worker.pid}) {why or reason}: killing it"
            )
            with contextlib.suppress(ProcessLookupError):
                worker.process.kill()

    # ---- one worker's life, again and again --------------------------------------------------

    async def _supervise(self, index: int) -> None:
        failures = 0
        while not self._stopping:
            worker = await self._spawn(index)
            beat = asyncio.create_task(self._heartbeat(worker), name=f"heartbeat w{index}")
            assert worker.process is not None
            try:
                code = await worker.process.wait()
            finally:  # stop() cancels this task: its heartbeat must not outlive it
                beat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await beat
            await worker.client.aclose()
            worker.ready = False
            self._changed()
            if self.on_exit is not None:
                self.on_exit(worker)
            if self._stopping:
                return
            lost = len(worker.calls)
            reason = worker.kill_reason or "died"
            self.stats.call_failures += lost
            self.stats.restarts[reason] += 1
            logger.warning(
                f"serve: worker w{index} (pid {worker.pid}) exited with {code} ({reason}); "
                f"{lost} call(s) lost; starting a new one"
            )
            failures = 0 if worker.was_ready else failures + 1
            # Before any worker was ever ready, the bot cannot start: stop, loudly. After, a
            # slot that keeps failing (e.g. out of memory while loading) must not end the
            # calls on the healthy workers: it keeps retrying, every 30 s at most.
            if failures >= MAX_START_FAILURES and not self._ever_ready:
                self.fatal = (
                    f"worker w{index} exited with {code} before its models were loaded, "
                    f"{failures} times in a row (its error is above)"
                )
                logger.error(f"serve: {self.fatal}")
                self._changed()
                return
            if failures:
                await asyncio.sleep(min(MAX_RESTART_PAUSE_SECS, 2.0 ** (failures - 1)))

    async def _spawn(self, index: int) -> Worker:
        assert self._dir is not None
        path = self._dir / f"w{index}.sock"
        path.unlink(missing_ok=True)
        transport = httpx.AsyncHTTPTransport(uds=str(path))
        worker = Worker(index, path, httpx.AsyncClient(transport=transport, base_url="http://w"))
        self.workers[index] = worker
        worker.process = await asyncio.create_subprocess_exec(
            *self.command(index, path),
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            start_new_session=True,  # a terminal's Ctrl-C reaches the supervisor only
        )
        logger.debug(f"serve: worker w{index} started (pid {worker.pid})")
        return worker

    async def _heartbeat(self, worker: Worker) -> None:
        timeout = max(1.0, min(self.hang_secs / 2, 5.0))
        while True:
            await asyncio.sleep(self.heartbeat_secs)
            now = time.monotonic()
            sent = now
            try:
                answer = await self.request(worker, "GET", "/worker/calls", timeout=timeout)
                data = answer.json()
                ready, calls = bool(data["ready"]), set(data["calls"])
            except (httpx.HTTPError, ValueError, KeyError, TypeError):
                self._check_silence(worker, time.monotonic())
                continue
            worker.last_seen = time.monotonic()
            self._update(worker, ready, calls, sent)

    def _check_silence(self, worker: Worker, now: float) -> None:
        if worker.was_ready:
            last = worker.last_seen or worker.started_at
            if now - last > self.hang_secs:
                self.kill(worker, "hung", f"has not answered for {now - last:.0f} s")
        elif now - worker.started_at > self.start_timeout_secs:
            self.kill(
                worker, "start_timeout", f"was not ready after {self.start_timeout_secs:.0f} s"
            )

    def _update(self, worker: Worker, ready: bool, calls: set[str], sent: float) -> None:
        """Take the worker's word for its calls: those placed before this heartbeat was
        sent and no longer live have ended; live ones we did not place are adopted."""
        if ready and not worker.was_ready:
            logger.info(
                f"serve: worker w{worker.index} ready in "
                f"{time.monotonic() - worker.started_at:.1f}s"
            )
        worker.was_ready = worker.was_ready or ready
        self._ever_ready = self._ever_ready or ready
        changed = ready != worker.ready
        worker.ready = ready
        now = time.monotonic()
        worker.confirmed |= calls & worker.calls.keys()
        # A placed call the worker has not reported yet may still be starting there (a phone
        # call registers once the carrier's ``start`` arrives): not ended until it has been
        # seen live, or it was placed ``UNCONFIRMED_SECS`` ago and never was.
        ended = [
            c
            for c, at in worker.calls.items()
            if c not in calls
            and at < sent
            and (c in worker.confirmed or now - at > UNCONFIRMED_SECS)
        ]
        for call in ended:
            del worker.calls[call]
            worker.confirmed.discard(call)
            self.ended[call] = (worker, now)
        self.stats.call_ends += len(ended)
        for call, (_w, at) in list(self.ended.items()):
            if now - at > KEEP_ENDED_SECS:
                del self.ended[call]
        for call in calls - worker.calls.keys():  # live before ``placed`` ran: count it now
            worker.calls[call] = now
            worker.confirmed.add(call)
            self.stats.call_starts += 1
        if changed or ended:
            self._changed()

    def _changed(self) -> None:
        self.changed.set()
        for listener in self.on_change:
            listener()


def worker_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment for a worker, with ``extra`` on top."""
    env = dict(os.environ)
    env.update(extra or {})
    return env


def send_signal(worker: Worker, sig: signal.Signals) -> None:
    """Send ``sig`` to a worker process (tests: SIGKILL, SIGSTOP to hang it)."""
    if worker.pid is not None:
        os.kill(worker.pid, sig)
