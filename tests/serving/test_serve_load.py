"""``voicebot serve`` under load, short: three calls on three workers, one worker killed.

Three callers (``voicebot.testing.webrtc_caller``) each play examples/audio/two_turns.wav
over WebRTC, each from its own loopback address (the server limits new calls per client
address). A fourth call while they run is refused (503); once every caller has heard its
first reply, one worker is killed: its call is lost, the worker is replaced, and the two
other calls still get both their answers. Behaviour only: every wait is for an event,
bounded so a hang fails the test (benchmarks/serve_load.py measures the timing).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable

from tests.serving.conftest import FAKE_BOT, WAIT_BOUND_SECS, Served, eventually
from voicebot.testing.webrtc_caller import WebRTCCaller

WAV = FAKE_BOT.parent / "audio" / "two_turns.wav"


async def both_turns_recorded(caller: WebRTCCaller) -> None:
    """Until the server's view of the call holds two turns each with an answer (bounded)."""
    deadline = time.monotonic() + WAIT_BOUND_SECS
    while True:
        assert await caller.server_view() == 200, caller.report.lost_reason
        turns = caller.report.server_turns
        if len([t for t in turns if t["user"] and t["bot"]]) == 2:
            return
        assert time.monotonic() < deadline, f"not two answered turns: {turns}"
        await asyncio.sleep(0.2)


async def test_three_calls_one_worker_killed_the_others_answered(
    serve: Callable[..., Served],
) -> None:
    served = serve(str(FAKE_BOT), "--workers", "3")
    assert served.url is not None
    callers = [WebRTCCaller(served.url, WAV, local_address=f"127.0.0.{10 + i}") for i in range(3)]
    extra = WebRTCCaller(served.url, WAV, local_address="127.0.0.20")
    try:
        statuses = await asyncio.gather(*(c.call() for c in callers))
        assert statuses == [200, 200, 200]  # no refusal below capacity
        assert await extra.call() == 503  # capacity + 1
        refused = 'voicebot_calls_refused_total{reason="full"}'
        assert await asyncio.to_thread(served.metric, refused) == 1

        connected = await asyncio.gather(*(c.wait_connected(WAIT_BOUND_SECS) for c in callers))
        assert all(connected), [c.report.lost_reason for c in callers]
        heard = await asyncio.gather(*(c.wait_heard(0, WAIT_BOUND_SECS) for c in callers))
        assert all(heard), "a caller never heard the answer to its first question"

        # Mid-call: kill one worker holding a call (which caller it serves is the
        # supervisor's business; the server's view tells afterwards).
        workers = (await asyncio.to_thread(served.status))["workers"]
        assert sorted(w["calls"] for w in workers) == [1, 1, 1]
        victim = workers[0]
        os.kill(victim["pid"], signal.SIGKILL)
        await eventually(
            "the killed worker is replaced",
            lambda: any(
                w["index"] == victim["index"] and w["pid"] != victim["pid"] and w["ready"]
                for w in served.status()["workers"]
            ),
            served.log,
        )
        views = await asyncio.gather(*(c.server_view() for c in callers))
        assert sorted(views) == [200, 200, 404], views  # exactly the killed call is lost
        lost = [c for c in callers if c.report.lost]
        survivors = [c for c in callers if not c.report.lost]
        assert len(lost) == 1 and len(survivors) == 2

        heard = await asyncio.gather(*(c.wait_heard(1, WAIT_BOUND_SECS) for c in survivors))
        assert all(heard), "a surviving call never heard the answer to its second question"
        for caller in survivors:
            await both_turns_recorded(caller)
            assert not caller.report.lost, caller.report.lost_reason
        assert await asyncio.to_thread(served.metric, "voicebot_call_failures_total") == 1
        assert await asyncio.to_thread(served.metric, refused) == 1  # nothing else refused
    finally:
        for caller in [*callers, extra]:
            await caller.hang_up()
