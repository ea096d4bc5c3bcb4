"""The virtual-time loop: timers in order, jumps only when idle, threads, executor futures and
sockets awaited, no real sleeping, and the time module always handed back real."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from voicebot.testing.virtual_time import (
    VirtualTimeLoop,
    real_monotonic,
    real_time,
)


def run(main: Callable[[], Coroutine[Any, Any, Any]]) -> tuple[Any, VirtualTimeLoop, float]:
    """Run ``main()`` on a fresh virtual loop: (its result, the loop, real seconds taken)."""
    loop = VirtualTimeLoop()
    started = real_monotonic()
    try:
        result = loop.run_until_complete(main())
    finally:
        loop.close()
    return result, loop, real_monotonic() - started


def test_timers_fire_in_order_at_their_virtual_times_without_real_sleep() -> None:
    async def main() -> list[tuple[str, float]]:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        fired: list[tuple[str, float]] = []

        async def after(name: str, secs: float) -> None:
            await asyncio.sleep(secs)
            fired.append((name, loop.time() - t0))

        loop.call_later(2.5, lambda: fired.append(("call_later", loop.time() - t0)))
        await asyncio.gather(after("c", 30.0), after("a", 1.0), after("b", 5.0))
        return fired

    fired, loop, real_secs = run(main)
    assert [name for name, _ in fired] == ["a", "call_later", "b", "c"]
    for (_, at), expected in zip(fired, [1.0, 2.5, 5.0, 30.0], strict=True):
        assert expected <= at < expected + 1e-3  # at, or a hair after (JUMP_LATE_SECS)
    assert loop.jumped_secs >= 30.0 - 1e-6
    assert real_secs < 2.0  # 30 s of timers, none of it slept


def test_time_does_not_move_while_callbacks_are_ready() -> None:
    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for _ in range(1000):
            await asyncio.sleep(0)  # always something ready: never idle, never a jump
        sum(range(200_000))  # CPU work takes no virtual time
        return t0, loop.time()

    (t0, t1), loop, _ = run(main)
    assert t1 == t0 and loop.jumped_secs == 0


def test_a_timeout_fires_only_after_the_work_before_it_is_done() -> None:
    async def main() -> list[str]:
        order: list[str] = []

        async def worker() -> None:
            for i in range(3):
                await asyncio.sleep(0.1)
                order.append(f"step {i}")

        try:
            await asyncio.wait_for(worker(), timeout=0.25)
        except TimeoutError:
            order.append("timeout")
        return order

    order, _, _ = run(main)
    assert order == ["step 0", "step 1", "timeout"]


def test_an_executor_job_is_awaited_before_time_jumps_past_it() -> None:
    async def main() -> tuple[list[str], float]:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        order: list[str] = []

        async def far_timer() -> None:
            await asyncio.sleep(10.0)
            order.append("timer")

        def slow_job() -> str:
            threading.Event().wait(0.3)  # real work in a thread, 0.3 s of it
            order.append("thread")
            return "done"

        timer = asyncio.ensure_future(far_timer())
        assert await loop.run_in_executor(None, slow_job) == "done"
        at = loop.time() - t0
        await timer
        return order, at

    (order, at), _, _ = run(main)
    # The 10 s timer did not fire while the thread worked: the clock ran at the real rate.
    assert order == ["thread", "timer"]
    assert 0.3 <= at < 10.0


def test_a_cancelled_wait_on_a_thread_still_holds_time_until_the_thread_ends() -> None:
    async def main() -> list[str]:
        order: list[str] = []
        release = threading.Event()

        def job() -> None:
            release.wait(5.0)
            order.append("thread")

        waiting = asyncio.ensure_future(asyncio.to_thread(job))
        await asyncio.sleep(0)
        waiting.cancel()
        loop = asyncio.get_running_loop()
        loop.call_later(0.05, release.set)  # the thread is released 50 ms later, real time
        await asyncio.sleep(3.0)  # would jump at once if the running thread were forgotten
        order.append("sleep")
        return order

    order, _, _ = run(main)
    assert order == ["thread", "sleep"]


def test_open_sockets_keep_the_clock_real() -> None:
    async def main() -> tuple[bytes, float]:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        a.setblocking(False)
        received = asyncio.ensure_future(loop.sock_recv(a, 2))
        for _ in range(3):  # until the socket is registered: from then on the clock is real
            await asyncio.sleep(0)
        t0 = loop.time()
        threading.Timer(0.2, lambda: b.send(b"hi")).start()  # outside input, not on the loop
        data = await asyncio.wait_for(received, timeout=5.0)
        at = loop.time() - t0
        a.close()
        b.close()
        return data, at

    (data, at), _, _ = run(main)
    # With a socket open a 5 s timeout is not jumped to: the data arriving after 0.2 s wins.
    assert data == b"hi" and 0.2 <= at < 5.0


def test_time_module_reads_the_loop_clock_only_while_it_runs() -> None:
    async def main() -> tuple[float, float, float, float]:
        loop = asyncio.get_running_loop()
        mono0, wall0 = time.monotonic(), time.time()
        await asyncio.sleep(3600.0)
        assert time.monotonic() == loop.time()
        return mono0, wall0, time.monotonic(), time.time()

    (mono0, wall0, mono1, wall1), _, _ = run(main)
    assert abs((mono1 - mono0) - 3600.0) < 1e-3 and abs((wall1 - wall0) - 3600.0) < 1e-3
    assert abs(time.time() - real_time()) < 1.0  # restored once the loop stopped
    assert time.monotonic is real_monotonic


def test_a_loop_that_never_idles_still_sees_time_pass() -> None:
    # Past STALL_SECS of real time without idling, its busy time counts.
    async def main() -> bool:
        started = real_monotonic()
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:  # a poller without a timer: must not hang
            if real_monotonic() - started > 20.0:
                return False  # it would have
            await asyncio.sleep(0)
        return True

    assert run(main)[0]


def test_a_thread_polling_a_monotonic_deadline_sees_it_come() -> None:
    # No timer on the loop: only the thread's own reads of the clock can show time passing.
    def poll(started: float) -> bool:
        deadline = time.monotonic() + 0.2
        while time.monotonic() < deadline:
            if real_monotonic() - started > 30.0:
                return False  # the clock stood still: it would have hung
            threading.Event().wait(0.001)
        return True

    async def main() -> tuple[bool, float]:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        done = await asyncio.to_thread(poll, real_monotonic())
        return done, loop.time() - t0

    (done, elapsed), _, _ = run(main)
    assert done and elapsed >= 0.2


def test_an_executor_future_awaited_with_wrap_future_holds_time() -> None:
    async def main() -> tuple[str, float]:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        go = threading.Event()

        def job() -> str:
            go.wait(30.0)  # the 0.2 s of real work start once the future is wrapped
            threading.Event().wait(0.2)
            return "done"

        with ThreadPoolExecutor(max_workers=1) as pool:
            wrapped = asyncio.wrap_future(pool.submit(job))
            go.set()
            # Would time out at once if the pending work were not counted.
            result = await asyncio.wait_for(wrapped, timeout=60.0)
        return result, loop.time() - t0

    (result, elapsed), _, _ = run(main)
    assert result == "done" and elapsed >= 0.2


def test_a_second_loop_never_leaves_the_time_module_patched() -> None:
    release_first = threading.Event()
    first_running = threading.Event()
    seen: dict[str, object] = {}

    async def first() -> None:
        first_running.set()
        seen["stale"] = time.monotonic  # kept past the loop's end, as a monkeypatch undo does
        await asyncio.to_thread(release_first.wait, 30.0)

    def run_first() -> None:
        run(first)

    runner = threading.Thread(target=run_first, daemon=True)
    runner.start()
    assert first_running.wait(30.0)

    # A second patching loop at the same time is refused, clearly, and patches nothing.
    refused = VirtualTimeLoop()
    refused.call_soon(refused.stop)  # were it allowed to run, it would stop at once
    try:
        with pytest.raises(RuntimeError, match="patch_time=False"):
            refused.run_forever()
    finally:
        refused.close()
    assert seen["stale"] is time.monotonic  # still the first loop's patch

    # One that does not patch runs, keeps its virtual clock, and outlives the first.
    async def second() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        release_first.set()
        await asyncio.to_thread(runner.join, 30.0)
        assert not runner.is_alive()
        await asyncio.sleep(3600.0)
        return loop.time() - t0, abs(time.monotonic() - real_monotonic())

    second_loop = VirtualTimeLoop(patch_time=False)
    try:
        jumped, drift = second_loop.run_until_complete(second())
    finally:
        second_loop.close()
    assert jumped >= 3600.0 and drift < 1.0  # its own clock virtual, the module's real
    assert time.monotonic is real_monotonic and time.time is real_time
    assert asyncio.wrap_future is asyncio.futures.wrap_future
    stale = seen["stale"]
    assert callable(stale) and abs(stale() - real_monotonic()) < 1.0

    # With the first gone, a patching loop may run again.
    _, loop, _ = run(lambda: asyncio.sleep(5.0))
    assert loop.jumped_secs >= 5.0 and time.monotonic is real_monotonic
