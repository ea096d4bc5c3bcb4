"""One phone call from a fake carrier that plays the bot's audio through a buffer and echoes
its playback marks (tests/phone/playout.py), with a barge-in: for tests/phone/test_marks.py
and benchmarks/phone_marks.py.

The caller speaks turn 1, streams silence (as a carrier does for the whole call) until
``speak_after_secs`` of the bot's reply has *arrived*, then speaks turn 2 over it; the bot's
``clear`` for that barge-in ends the call. Marks are echoed as the simulated carrier plays
their audio; with ``echo=False`` the peer swallows them (a carrier that sends none).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import connect

from tests.phone.conftest import SILENCE, TURN_1, TURN_2, WAIT_BOUND_SECS, frames, pace
from tests.phone.peers import Peer
from tests.phone.playout import RATE, Playout


@dataclass
class MarkedCall:
    """What the peer saw: every message kind in order, the marks, and its playout."""

    playout: Playout
    kinds: list[str] = field(default_factory=list)
    marks: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    barge_in_clear: asyncio.Event = field(default_factory=asyncio.Event)
    speaking: bool = False  # turn 2 has started


async def marked_call(
    url: str,
    peer: Peer,
    *,
    buffer_secs: float,
    speak_after_secs: float = 0.6,
    echo: bool = True,
) -> MarkedCall:
    call = MarkedCall(Playout(buffer_secs=buffer_secs, echo_on_clear=peer.echo_on_clear))
    playout = call.playout
    lock = asyncio.Lock()

    async with connect(url, max_size=2**22) as ws:

        async def send(message: str | bytes) -> None:
            async with lock:
                await ws.send(message)

        async def listen() -> None:
            with contextlib.suppress(Exception):
                async for message in ws:
                    now = time.monotonic()
                    try:
                        kind, pcm = peer.read(message)
                        name = peer.mark_name(message) if kind == "mark" else None
                    except Exception as e:  # a wrong envelope: recorded, the test fails on it
                        call.errors.append(f"{type(e).__name__}: {e}: {str(message)[:200]}")
                        continue
                    call.kinds.append(kind)
                    if kind == "audio" and pcm is not None:
                        playout.audio(len(pcm), now)
                    elif kind == "mark" and name is not None:
                        call.marks.append(name)
                        playout.mark(name, now)
                    elif kind == "clear":
                        for returned in playout.clear(now):
                            if echo:
                                await send(peer.echo(returned))
                        if call.speaking:
                            call.barge_in_clear.set()

        async def echo_played() -> None:
            while True:
                for name in playout.due(time.monotonic()):
                    if echo:
                        await send(peer.echo(name))
                await asyncio.sleep(0.01)

        async def silence_until(done: Any, started: float, n: int) -> int:
            deadline = time.monotonic() + WAIT_BOUND_SECS
            while not done():
                if time.monotonic() > deadline:
                    raise AssertionError("the bot did not do what was awaited in time")
                await send(peer.audio(SILENCE))
                n += 1
                await pace(started, n)
            return n

        listener = asyncio.create_task(listen())
        echoer = asyncio.create_task(echo_played())
        try:
            for message in peer.handshake():
                await send(message)
            started, n = time.monotonic(), 0
            for chunk in frames(TURN_1):
                await send(peer.audio(chunk))
                n += 1
                await pace(started, n)
            n = await silence_until(lambda: playout.received >= speak_after_secs * RATE, started, n)
            call.speaking = True
            for chunk in frames(TURN_2):  # over the bot's reply: a barge-in
                await send(peer.audio(chunk))
                n += 1
                await pace(started, n)
                if call.barge_in_clear.is_set():
                    break
            await silence_until(call.barge_in_clear.is_set, started, n)
            if (stop := peer.stop()) is not None:
                await send(stop)
            await ws.close()
        finally:
            echoer.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(listener, 10)
                await echoer
    return call
