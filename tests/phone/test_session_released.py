"""A phone call's session is let go when the call ends: a worker that answers calls one after
another keeps its memory. (A module-level map of output transports to their playback marks
kept every ended call's whole session alive: ~40 MB a call, found by benchmarks.serve_load
--transport twilio, whose workers grew by that much each round.)"""

from __future__ import annotations

import asyncio
import gc
import time
import weakref

from tests.phone.conftest import TURN_1, WAIT_BOUND_SECS, Worker
from tests.phone.twilio_fakes import TwilioCaller


async def test_an_ended_twilio_call_leaves_no_session_behind(worker: Worker) -> None:
    caller = TwilioCaller()
    call_id = "released-1"
    await caller.call(
        worker.ws(f"/phone/ws/twilio?call_id={call_id}"), TURN_1, lambda: len(caller.audio) > 10
    )
    assert caller.audio, "the bot never answered"
    playground = worker.app.state.playground
    deadline = time.monotonic() + WAIT_BOUND_SECS
    while any(s.pc_id == call_id for s in playground.live()):
        assert time.monotonic() < deadline, "the call never ended"
        await asyncio.sleep(0.05)
    session = weakref.ref(worker.seen.pop(call_id))  # the fixture's own reference goes
    # The server's thread may still be closing the socket: poll, bounded.
    while gc.collect() >= 0 and session() is not None:
        assert time.monotonic() < deadline, "the ended call's session is still alive"
        await asyncio.sleep(0.1)
