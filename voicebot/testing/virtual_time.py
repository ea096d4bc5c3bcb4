"""An asyncio event loop on a virtual clock: a test of a whole conversation takes as long as
its CPU work, not as long as the conversation.

``VirtualTimeLoop`` is a ``SelectorEventLoop`` whose ``time()`` is virtual. Where a real loop
would sleep until its next timer, this one checks (without blocking) that nothing is ready
and jumps its clock to that timer instead. Everything on the loop sees the same clock:
``asyncio.sleep``, ``call_later``, ``wait_for`` timeouts, and, while the loop runs,
``time.monotonic()``/``time.time()`` (and their ``_ns`` forms) looked up at call time, so
code that stamps events with them agrees with the loop's timers.

Time never jumps past work that is really happening:

- a job handed to a thread (``run_in_executor``, ``asyncio.to_thread``) is awaited: while
  one is running, the clock flows at the real rate and timers fire as in a real loop;
- while any file descriptor besides the loop's own wake-up pipe is registered (a socket, a
  subprocess pipe), the clock flows at the real rate too: outside input may be on its way;
- a loop that is never idle (a poller spinning on ``sleep(0)``) has its busy time counted
  once it has gone ``STALL_SECS`` of real time without idling, so it cannot hang on a
  deadline that never comes.

Otherwise CPU work on the loop takes no virtual time, so timings are the same on a loaded
machine as on an idle one. Not covered: threads started by hand (``threading.Thread``) that
post back with ``call_soon_threadsafe``, and references to ``time.monotonic``/``time.time``
bound before the loop ran (``from time import time``, a default argument ``clock=time.time``):
those read the real clock. Use it for tests whose subject is not real-time performance:
``asyncio.Runner(loop_factory=VirtualTimeLoop)``, or pytest-asyncio's
``pytest_asyncio_loop_factories`` hook (as tests/conversation/conftest.py does).
"""

from __future__ import annotations

import asyncio
import selectors
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from typing import Any, TypeVar, TypeVarTuple, Unpack

_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")

#: The real clocks, as they were when this module was imported.
real_monotonic = time.monotonic
real_time = time.time

#: Real seconds the loop may stay busy without ever idling before its busy time is counted.
STALL_SECS = 1.0
#: How late a jump lands after the timer it jumps to. A real loop wakes a little after a
#: timer is due, never before; landing exactly on it would let float rounding put the clock
#: a hair short (``start + 0.3 - start < 0.3``) and code checking "at least 0.3 s" would fail.
JUMP_LATE_SECS = 1e-6

_Select = Callable[[float | None], list[tuple[selectors.SelectorKey, int]]]


class _Selector(selectors.DefaultSelector):
    """The loop's selector: where the loop would wait, the loop decides how (see the module
    docstring); the real selector only ever waits for real input."""

    def __init__(self) -> None:
        super().__init__()
        self.decide: Callable[[_Select, float | None], list[Any]] | None = None

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        real_select = super().select
        if self.decide is None:  # still inside the loop's constructor
            return real_select(timeout)
        return self.decide(real_select, timeout)


class _ThreadJob:
    """One job handed to a thread, counted from submission until both its thread is done
    and its result is back on the loop (a cancelled await hands back before the thread ends)."""

    def __init__(self, loop: VirtualTimeLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._ran = False
        self._handed_back = False

    def run(self, func: Callable[[Unpack[_Ts]], _T], *args: *_Ts) -> _T:
        try:
            return func(*args)
        finally:
            with self._lock:
                self._ran = True
                post = self._handed_back
            if post and not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self._loop._vt_thread_done)

    def handed_back(self, _future: asyncio.Future[Any]) -> None:
        with self._lock:
            self._handed_back = True
            ran = self._ran
        if ran:
            self._loop._vt_thread_done()


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock jumps over idle time; see the module docstring.

    ``patch_time`` (default on): while the loop runs, ``time.monotonic``, ``time.time`` and
    their ``_ns`` forms read this loop's clock. ``jumped_secs`` is the virtual time skipped.
    """

    def __init__(self, *, patch_time: bool = True) -> None:
        selector = _Selector()
        super().__init__(selector)
        # What is registered now is the loop's own wake-up pipe: not outside input.
        self._vt_own_fds = len(selector.get_map())
        self._vt_selector = selector
        self._vt_now = real_monotonic()
        self._vt_wall_offset = real_time() - self._vt_now
        self._vt_idle_mark = real_monotonic()  # real time the loop last waited or jumped
        self._vt_threads = 0
        self._vt_patch_time = patch_time
        self.jumped_secs = 0.0
        selector.decide = self._vt_select

    def time(self) -> float:
        return self._vt_now

    def wall_time(self) -> float:
        """``time.time()`` on this loop's clock."""
        return self._vt_now + self._vt_wall_offset

    def run_in_executor(
        self, executor: Executor | None, func: Callable[[Unpack[_Ts]], _T], *args: *_Ts
    ) -> asyncio.Future[_T]:
        if asyncio.iscoroutinefunction(func):
            raise TypeError("coroutines cannot be used with run_in_executor()")
        job = _ThreadJob(self)
        future = super().run_in_executor(executor, job.run, func, *args)
        self._vt_threads += 1
        future.add_done_callback(job.handed_back)
        return future

    def run_forever(self) -> None:
        if not self._vt_patch_time:
            super().run_forever()
            return
        with self._vt_time_patched():
            super().run_forever()

    def _vt_thread_done(self) -> None:
        self._vt_threads -= 1

    def _vt_may_jump(self) -> bool:
        return self._vt_threads == 0 and len(self._vt_selector.get_map()) <= self._vt_own_fds

    def _vt_select(self, real_select: _Select, timeout: float | None) -> list[Any]:
        if timeout is not None and timeout <= 0:  # callbacks are ready: no waiting
            events = real_select(0)
            stalled = real_monotonic() - self._vt_idle_mark
            if stalled > STALL_SECS:
                self._vt_now += stalled
                self._vt_idle_mark = real_monotonic()
            return events
        if timeout is None or not self._vt_may_jump():
            # Nothing scheduled, a thread at work or outside input possible: wait for real.
            started = real_monotonic()
            events = real_select(timeout)
            self._vt_idle_mark = real_monotonic()
            self._vt_now += self._vt_idle_mark - started
            return events
        events = real_select(0)
        if not events:
            self._vt_now += timeout + JUMP_LATE_SECS
            self.jumped_secs += timeout + JUMP_LATE_SECS
        self._vt_idle_mark = real_monotonic()
        return events

    @contextmanager
    def _vt_time_patched(self) -> Iterator[None]:
        ours: dict[str, Callable[[], float | int]] = {
            "monotonic": self.time,
            "monotonic_ns": lambda: int(self._vt_now * 1e9),
            "time": self.wall_time,
            "time_ns": lambda: int(self.wall_time() * 1e9),
        }
        saved = {name: getattr(time, name) for name in ours}
        for name, fn in ours.items():
            setattr(time, name, fn)
        try:
            yield
        finally:
            for name, fn in saved.items():
                setattr(time, name, fn)
