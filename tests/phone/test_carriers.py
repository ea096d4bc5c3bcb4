"""Each carrier's fake peer calls the served fake bot with real speech (8 kHz): the bot answers
in the carrier's encoding and envelope, a barge-in gets the carrier's clear, a key press
reaches the pipeline, the session is registered under the supervisor's ``call_id`` and carries
the caller's number, and the caller's hang-up ends it."""

from __future__ import annotations

import contextlib
import time
import uuid

import pytest

from tests.phone.conftest import DTMF_SEEN, Worker, dominant_hz
from tests.phone.driver import converse
from tests.phone.peers import ExotelPeer, PCMPeer, Peer, PlivoPeer, TelerPeer, TelnyxPeer
from voicebot.transports.phone import phone_call

PEERS = {
    "telnyx-pcmu": lambda: TelnyxPeer(),
    "telnyx-pcma-explicit": lambda: TelnyxPeer(encoding="PCMA", path="/phone/ws/telnyx"),
    "plivo": lambda: PlivoPeer(),
    "exotel": lambda: ExotelPeer(),
    "teler-data": lambda: TelerPeer(),
    "teler-top-explicit": lambda: TelerPeer(envelope="top", path="/phone/ws/teler"),
    "pcm-binary": lambda: PCMPeer(),
    "pcm-json-mulaw": lambda: PCMPeer(json_mulaw=True, path="/phone/ws/pcm"),
}
EXPECTED_CARRIER = {"telnyx": "telnyx", "plivo": "plivo", "exotel": "exotel", "teler": "teler"}


@pytest.mark.real_time
@pytest.mark.parametrize("name", list(PEERS))
async def test_a_carrier_call_is_answered_barged_in_and_hung_up(worker: Worker, name: str) -> None:
    peer: Peer = PEERS[name]()
    call_id = f"test-{name}-{uuid.uuid4().hex[:8]}"
    digit = "9" if peer.has_dtmf else ""
    DTMF_SEEN.clear()
    sessions: list[object] = []

    def registered() -> bool:
        s = worker.session(call_id)
        if s is not None:
            sessions.append(s)
        return s is not None

    url = worker.ws(f"{peer.path}?call_id={call_id}")
    if isinstance(peer, TelerPeer):  # Teler's start has no numbers: the flow's ws_url carries them
        url += "&from=%2B15550001111"
    task = converse(url, peer, digit=digit or "7")
    heard = await task
    assert heard.errors == []
    # The bot answered, in the carrier's encoding: decoded as the carrier's audio, the reply
    # is FakeTTS's 220 Hz tone (decoded in another encoding it would be noise).
    assert heard.audio, f"no audio came back: {heard.kinds[:10]}"
    reply = heard.pcm
    assert len(reply) >= 2400
    assert abs(dominant_hz(reply[:2400]) - 220) < 15
    # The barge-in: the second turn, spoken over the reply, got the carrier's clear.
    assert heard.clear.is_set()
    assert registered(), "the session was not registered under the supervisor's call_id"
    call = phone_call(sessions[-1])
    assert call is not None and call.carrier == name.split("-")[0]
    assert call.from_number == "+15550001111"
    if peer.has_dtmf:
        assert [digit] == DTMF_SEEN, DTMF_SEEN
    # The caller hung up: the call leaves the worker's heartbeat list.
    worker.wait_for(lambda: call_id not in worker.calls(), "ended after the hang-up")
    took = worker.ended_at(call_id) - heard.hung_up_at
    print(f"{name}: session ended {took:.2f}s after the caller hung up")


@pytest.mark.real_time
async def test_a_caller_dropping_mid_word_ends_the_session(worker: Worker) -> None:
    """No stop message, the socket just closes while the caller speaks."""
    from websockets.asyncio.client import connect

    from tests.phone.conftest import TURN_1, frames, pace

    peer = TelnyxPeer()
    call_id = f"test-drop-{uuid.uuid4().hex[:8]}"
    async with connect(worker.ws(f"/phone/ws?call_id={call_id}")) as ws:
        for message in peer.handshake():
            await ws.send(message)
        started = time.monotonic()
        for n, chunk in enumerate(frames(TURN_1)[:60]):  # 1.2 s: mid-word
            await ws.send(peer.audio(chunk))
            await pace(started, n + 1)
        worker.wait_for(lambda: call_id in worker.calls(), "registered")
        closed_at = time.time()
    worker.wait_for(lambda: call_id not in worker.calls(), "ended after the drop")
    print(f"drop: session ended {worker.ended_at(call_id) - closed_at:.2f}s after the close")


@pytest.mark.real_time
@pytest.mark.parametrize("make", [PCMPeer, TelnyxPeer], ids=["pcm", "telnyx"])
async def test_the_bot_hanging_up_closes_the_stream_after_its_goodbye(
    worker: Worker, make: type[Peer]
) -> None:
    """An EndFrame (here: the worker draining with a goodbye, as on SIGTERM) lets the
    goodbye play, then closes the carrier's socket: the bot hangs up."""
    import asyncio

    import httpx
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    from tests.phone.conftest import SILENCE, pace

    peer = make()
    call_id = f"test-bye-{peer.name}-{uuid.uuid4().hex[:8]}"
    kinds: list[str] = []
    async with connect(worker.ws(f"/phone/ws?call_id={call_id}")) as ws:
        for message in peer.handshake():
            await ws.send(message)

        async def stream_silence() -> None:
            started, n = time.monotonic(), 0
            with contextlib.suppress(ConnectionClosed):
                while True:
                    await ws.send(peer.audio(SILENCE))
                    n += 1
                    await pace(started, n)

        streaming = asyncio.create_task(stream_silence())
        await asyncio.to_thread(worker.wait_for, lambda: call_id in worker.calls(), "live")
        r = await asyncio.to_thread(
            httpx.post,
            f"http://127.0.0.1:{worker.port}/worker/drain",
            json={"goodbye": "Goodbye now."},
            timeout=30,
        )
        assert r.json() == {"ending": 1}
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(60):
                while True:
                    kinds.append(peer.read(await ws.recv())[0])
        streaming.cancel()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
    assert "audio" in kinds  # the goodbye was spoken before the close
    worker.wait_for(lambda: call_id not in worker.calls(), "ended")
