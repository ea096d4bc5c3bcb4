"""An asyncio event loop on a virtual clock: a test of a whole conversation takes as long as
its CPU work, not as long as the conversation.

``VirtualTimeLoop`` is a ``SelectorEventLoop`` whose ``time()`` is virtual. Where a real loop
would sleep until its next timer, this one checks (without blocking) that nothing is ready
and jumps its clock to that timer instead. Everything on the loop sees the same clock:
``asyncio.sleep``, ``call_later``, ``wait_for`` timeouts, and, while the loop runs,
``time.monotonic()``/``time.time()`` (and their ``_ns`` forms) looked up at call time, in
any thread, so code that stamps events with them agrees with the loop's timers.

Time never jumps past work that is really happening. While any of these is pending the clock
*flows*: every read adds the real time elapsed, continuously (a thread polling a
``time.monotonic()`` deadline sees it come), and timers fire as in a real loop:

- a job handed to a thread (``run_in_executor``, ``asyncio.to_thread``), counted until its
  thread is done and its result is back on the loop (a cancelled await does not end it);
- a ``concurrent.futures.Future`` awaited through ``asyncio.wrap_future`` (work submitted to
  an executor directly), counted until it is done and its wrapper is too;
- a file descriptor besides the loop's own wake-up pipe (a socket, a subprocess pipe):
  outside input may be on its way.

A loop that is never idle (a poller spinning on ``sleep(0)``) has its busy time counted once
it has gone ``STALL_SECS`` of real time without idling, so it cannot hang on a deadline that
never comes. Otherwise CPU work on the loop takes no virtual time, so timings are the same
on a loaded machine as on an idle one.

Only one loop patches the ``time`` module at a time: a second ``VirtualTimeLoop`` started
while another one runs with ``patch_time`` on raises ``RuntimeError`` rather than let code on
it read the other loop's clock (give it ``patch_time=False``). The patch always restores the
functions captured when this module was imported, and a stale reference to a patched
function (kept by a ``monkeypatch`` undo, say) reads the real clock once no loop runs.

Not covered: threads started by hand (``threading.Thread``) that post back with
``call_soon_threadsafe``, and futures of another loop (``run_coroutine_threadsafe``) awaited
with anything but ``wrap_future``: time may jump while they work. References bound before the
loop ran (``from time import time``, ``from asyncio import wrap_future``, a default argument
``clock=time.time``) see the real functions. Use it for tests whose subject is not real-time
performance: ``asyncio.Runner(loop_factory=VirtualTimeLoop)``, or pytest-asyncio's
``pytest_asyncio_loop_factories`` hook (as tests/conversation/conftest.py does).
"""

from __future__ import annotations

import asyncio
import asyncio.futures
import concurrent.futures
import selectors
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from contextlib import contextmanager, suppress
from typing import Any, TypeVar, TypeVarTuple, Unpack

_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")

#: The real clocks, as they were when this module was imported.
real_monotonic = time.monotonic
real_time = time.time
_real_monotonic_ns = time.monotonic_ns
_real_time_ns = time.time_ns
_real_wrap_future = asyncio.futures.wrap_future

#: Real seconds the loop may stay busy without ever idling before its busy time is counted.
STALL_SECS = 1.0
#: How late a jump lands after the timer it jumps to. A real loop wakes a little after a
#: timer is due, never before; landing exactly on it would let float rounding put the clock
#: a hair short (``start + 0.3 - start < 0.3``) and code checking "at least 0.3 s" would fail.
JUMP_LATE_SECS = 1e-6
#: Longest real wait for input while work is pending, so the loop looks at its clock often.
WORK_POLL_SECS = 0.05

_Select = Callable[[float | None], list[tuple[selectors.SelectorKey, int]]]

_patch_lock = threading.Lock()
#: The loop whose clock the ``time`` module reads, while it runs.
_patch_owner: VirtualTimeLoop | None = None


def _monotonic() -> float:
    owner = _patch_owner
    return owner.time() if owner is not None else real_monotonic()


def _monotonic_ns() -> int:
    owner = _patch_owner
    return int(owner.time() * 1e9) if owner is not None else _real_monotonic_ns()


def _time() -> float:
    owner = _patch_owner
    return owner.wall_time() if owner is not None else real_time()


def _time_ns() -> int:
    owner = _patch_owner
    return int(owner.wall_time() * 1e9) if owner is not None else _real_time_ns()


def _wrap_future(future: Any, *, loop: asyncio.AbstractEventLoop | None = None) -> Any:
    """``asyncio.wrap_future`` that tells a virtual loop real work is pending."""
    wrapped = _real_wrap_future(future, loop=loop)
    target = wrapped.get_loop()
    if wrapped is not future and isinstance(target, VirtualTimeLoop):
        target._vt_track_future(future, wrapped)
    return wrapped


_PATCHES: list[tuple[Any, str, Any, Any]] = [
    (time, "monotonic", real_monotonic, _monotonic),
    (time, "monotonic_ns", _real_monotonic_ns, _monotonic_ns),
    (time, "time", real_time, _time),
    (time, "time_ns", _real_time_ns, _time_ns),
    (asyncio, "wrap_future", _real_wrap_future, _wrap_future),
    (asyncio.futures, "wrap_future", _real_wrap_future, _wrap_future),
]


@contextmanager
def _time_patched_by(loop: VirtualTimeLoop) -> Iterator[None]:
    global _patch_owner
    with _patch_lock:
        if _patch_owner is not None:
            raise RuntimeError(
                "another VirtualTimeLoop is running with patch_time on; a second one running "
                "at the same time needs VirtualTimeLoop(patch_time=False)"
            )
        _patch_owner = loop
        for module, name, _, ours in _PATCHES:
            setattr(module, name, ours)
    try:
        yield
    finally:
        with _patch_lock:
            _patch_owner = None
            for module, name, real, _ in _PATCHES:
                setattr(module, name, real)


class _Selector(selectors.DefaultSelector):
    """The loop's selector: where the loop would wait, the loop decides how (see the module
    docstring); the real selector only ever waits for real input."""

    def __init__(self) -> None:
        super().__init__()
        self.decide: Callable[[_Select, float | None], list[Any]] | None = None
        self.changed: Callable[[], None] | None = None

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        real_select = super().select
        if self.decide is None:  # still inside the loop's constructor
            return real_select(timeout)
        return self.decide(real_select, timeout)

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        key = super().register(fileobj, events, data)
        if self.changed is not None:
            self.changed()
        return key

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        key = super().unregister(fileobj)
        if self.changed is not None:
            self.changed()
        return key


class _PendingWork:
    """Real work the loop waits for, counted from its start until both the work is done
    and its result is back on the loop (a cancelled await hands back before a thread ends)."""

    def __init__(self, loop: VirtualTimeLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._done = False
        self._handed_back = False
        loop._vt_work_started()

    def run(self, func: Callable[[Unpack[_Ts]], _T], *args: *_Ts) -> _T:
        try:
            return func(*args)
        finally:
            self.finished()

    def finished(self, _future: object = None) -> None:
        """The work is done (called in whichever thread did it)."""
        with self._lock:
            self._done = True
            post = self._handed_back
        if post:
            with suppress(RuntimeError):  # the loop is closed: nothing left to count
                self._loop.call_soon_threadsafe(self._loop._vt_work_done)

    def handed_back(self, _future: asyncio.Future[Any]) -> None:
        with self._lock:
            self._handed_back = True
            done = self._done
        if done:
            self._loop._vt_work_done()


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock jumps over idle time; see the module docstring.

    ``patch_time`` (default on): while the loop runs, ``time.monotonic``, ``time.time``,
    their ``_ns`` forms and ``asyncio.wrap_future`` are this loop's. ``jumped_secs`` is the
    virtual time skipped.
    """

    def __init__(self, *, patch_time: bool = True) -> None:
        selector = _Selector()
        super().__init__(selector)
        # What is registered now is the loop's own wake-up pipe: not outside input.
        self._vt_own_fds = len(selector.get_map())
        self._vt_selector = selector
        # The clock: virtual ``_vt_base`` at real ``_vt_mark``, plus the real time since
        # then while ``_vt_flowing``. Written on the loop's thread, read in any.
        self._vt_clock_lock = threading.Lock()
        self._vt_base = real_monotonic()
        self._vt_mark = self._vt_base
        self._vt_flowing = False
        self._vt_wall_offset = real_time() - self._vt_base
        self._vt_idle_mark = real_monotonic()  # real time the loop last waited or jumped
        self._vt_work = 0
        self._vt_in_executor = False
        self._vt_patch_time = patch_time
        self.jumped_secs = 0.0
        selector.decide = self._vt_select
        selector.changed = self._vt_update_flow

    def time(self) -> float:
        with self._vt_clock_lock:
            if self._vt_flowing:
                return self._vt_base + (real_monotonic() - self._vt_mark)
            return self._vt_base

    def wall_time(self) -> float:
        """``time.time()`` on this loop's clock."""
        return self.time() + self._vt_wall_offset

    def run_in_executor(
        self, executor: Executor | None, func: Callable[[Unpack[_Ts]], _T], *args: *_Ts
    ) -> asyncio.Future[_T]:
        if asyncio.iscoroutinefunction(func):
            raise TypeError("coroutines cannot be used with run_in_executor()")
        self._vt_in_executor = True  # counted here, not again by the patched wrap_future
        try:
            job = _PendingWork(self)
            try:
                future = super().run_in_executor(executor, job.run, func, *args)
            except BaseException:
                self._vt_work_done()
                raise
        finally:
            self._vt_in_executor = False
        future.add_done_callback(job.handed_back)
        return future

    def run_forever(self) -> None:
        if not self._vt_patch_time or self.is_running():  # running: let asyncio refuse
            super().run_forever()
            return
        with _time_patched_by(self):
            super().run_forever()

    def _vt_track_future(
        self, future: concurrent.futures.Future[Any], wrapped: asyncio.Future[Any]
    ) -> None:
        if self._vt_in_executor:
            return
        work = _PendingWork(self)
        future.add_done_callback(work.finished)
        wrapped.add_done_callback(work.handed_back)

    def _vt_work_started(self) -> None:
        self._vt_work += 1
        self._vt_update_flow()

    def _vt_work_done(self) -> None:
        self._vt_work -= 1
        self._vt_update_flow()

    def _vt_update_flow(self) -> None:
        """Start or stop the clock flowing as pending work or outside input comes and goes."""
        flowing = self._vt_work > 0 or len(self._vt_selector.get_map()) > self._vt_own_fds
        if flowing == self._vt_flowing:
            return
        with self._vt_clock_lock:
            real_now = real_monotonic()
            if self._vt_flowing:
                self._vt_base += real_now - self._vt_mark
            self._vt_mark = real_now
            self._vt_flowing = flowing

    def _vt_advance(self, secs: float) -> None:
        with self._vt_clock_lock:
            self._vt_base += secs

    def _vt_select(self, real_select: _Select, timeout: float | None) -> list[Any]:
        self._vt_update_flow()
        if self._vt_flowing:  # real time is counted as it passes: wait as a real loop would
            if self._vt_work and (timeout is None or timeout > WORK_POLL_SECS):
                timeout = WORK_POLL_SECS
            events = real_select(timeout)
            self._vt_idle_mark = real_monotonic()
            return events
        if timeout is not None and timeout <= 0:  # callbacks are ready: no waiting
            events = real_select(0)
            stalled = real_monotonic() - self._vt_idle_mark
            if stalled > STALL_SECS:
                self._vt_advance(stalled)
                self._vt_idle_mark = real_monotonic()
            return events
        if timeout is None:  # nothing scheduled: only a hand-made thread can wake us
            started = real_monotonic()
            events = real_select(None)
            self._vt_idle_mark = real_monotonic()
            self._vt_advance(self._vt_idle_mark - started)
            return events
        events = real_select(0)
        if not events:
            self._vt_advance(timeout + JUMP_LATE_SECS)
            self.jumped_secs += timeout + JUMP_LATE_SECS
        self._vt_idle_mark = real_monotonic()
        return events
