"""One phone call from a fake carrier peer: real speech in, the bot's audio and barge-in out.

``converse`` streams the caller's first turn (paced at 20 ms, then silence, as a carrier
streams for the whole call), waits for the bot's first audio, presses a key, speaks the second
turn over the bot's reply (a barge-in) and keeps streaming silence until the bot's ``clear``
arrives, then hangs up (``stop`` and close, or an abrupt close).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

import numpy as np
from websockets.asyncio.client import connect

from tests.phone.conftest import SILENCE, TURN_1, TURN_2, WAIT_BOUND_SECS, frames, pace
from tests.phone.peers import Peer


@dataclass
class Heard:
    """What the caller received, in order."""

    audio: list[np.ndarray] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    first_audio: asyncio.Event = field(default_factory=asyncio.Event)
    some_audio: asyncio.Event = field(default_factory=asyncio.Event)  # 0.3 s of it
    clear: asyncio.Event = field(default_factory=asyncio.Event)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    errors: list[str] = field(default_factory=list)
    audio_before_barge_in: int = 0
    hung_up_at: float = 0.0  # time.time() when the caller hung up

    @property
    def pcm(self) -> np.ndarray:
        return np.concatenate(self.audio) if self.audio else np.zeros(0, dtype=np.int16)


async def _listen(ws: object, peer: Peer, heard: Heard) -> None:
    try:
        async for message in ws:  # type: ignore[attr-defined]
            try:
                kind, pcm = peer.read(message)
            except Exception as e:  # a wrong envelope: recorded, the test fails on it
                heard.errors.append(f"{type(e).__name__}: {e}: {str(message)[:200]}")
                continue
            heard.kinds.append(kind)
            if kind == "audio" and pcm is not None:
                heard.audio.append(pcm)
                heard.first_audio.set()
                if sum(len(a) for a in heard.audio) >= 2400:
                    heard.some_audio.set()
            elif kind == "clear":
                heard.clear.set()
    except Exception:
        pass
    finally:
        heard.closed.set()


async def _stream_until(
    ws: object, peer: Peer, event: asyncio.Event, started: float, n: int
) -> int:
    """Silence, paced, until ``event`` (bounded); returns the frame count."""
    deadline = time.monotonic() + WAIT_BOUND_SECS
    while not event.is_set():
        if time.monotonic() > deadline:
            raise AssertionError("the bot did not do what was awaited in time")
        await ws.send(peer.audio(SILENCE))  # type: ignore[attr-defined]
        n += 1
        await pace(started, n)
    return n


async def converse(url: str, peer: Peer, *, digit: str = "7", polite: bool = True) -> Heard:
    heard = Heard()
    async with connect(url, max_size=2**22) as ws:
        listener = asyncio.create_task(_listen(ws, peer, heard))
        for message in peer.handshake():
            await ws.send(message)
        started, n = time.monotonic(), 0
        for chunk in frames(TURN_1):
            await ws.send(peer.audio(chunk))
            n += 1
            await pace(started, n)
        n = await _stream_until(ws, peer, heard.some_audio, started, n)
        if peer.has_dtmf:
            await ws.send(peer.dtmf(digit))
        heard.clear.clear()  # a clear for the caller's first turn is not the barge-in
        heard.audio_before_barge_in = len(heard.audio)
        for chunk in frames(TURN_2):  # over the bot's reply: a barge-in
            await ws.send(peer.audio(chunk))
            n += 1
            await pace(started, n)
        n = await _stream_until(ws, peer, heard.clear, started, n)
        heard.hung_up_at = time.time()
        if polite and (stop := peer.stop()) is not None:
            await ws.send(stop)
        await ws.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(listener, 10)
    return heard
