"""Bad input on a phone socket: one log line per kind of problem, the call ends or goes on,
and the worker stays up (its heartbeat answers and the next call is answered)."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Iterator

import pytest
from loguru import logger
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.phone.conftest import SILENCE, TURN_1, Worker, frames, pace
from tests.phone.peers import PCMPeer, TelnyxPeer


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    """Every voicebot log line at WARNING and above while the test runs (any thread)."""
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="WARNING", format="{message}")
    yield lines
    logger.remove(sink)


async def _closed_by_server(ws: object, bound: float = 60) -> int | None:
    """Read until the server closes the socket; its close code."""
    deadline = time.monotonic() + bound
    try:
        while time.monotonic() < deadline:
            await ws.recv()  # type: ignore[attr-defined]
    except ConnectionClosed as e:
        return e.rcvd.code if e.rcvd else None
    raise AssertionError("the server did not close the socket")


@pytest.mark.real_time
async def test_garbage_mid_call_is_logged_once_per_kind_and_the_call_goes_on(
    worker: Worker, log_lines: list[str]
) -> None:
    peer = TelnyxPeer()
    call_id = f"test-garbage-{uuid.uuid4().hex[:8]}"
    garbage: list[str | bytes] = [
        "{not json",
        "[1, 2, 3]",
        "[" * 50_000,  # nested too deeply for the parser
        json.dumps({"event": "media", "media": {"payload": "!!! not base64 !!!"}}),
        json.dumps({"event": "media", "media": "a string"}),
        json.dumps({"event": "dtmf", "dtmf": {"digit": "Z"}}),
        json.dumps({"event": "start", "start": {"weird": True}}),  # a second start
        b"\x00\xff" * 100,
        "x" * 300_000,  # over the 256 kB cap
    ]
    async with connect(worker.ws(f"/phone/ws?call_id={call_id}"), max_size=None) as ws:
        for message in peer.handshake():
            await ws.send(message)
        for _ in range(20):  # many of each: still one line per kind
            for bad in garbage:
                await ws.send(bad)
        started, n, got_audio = time.monotonic(), 0, False
        for chunk in frames(TURN_1):
            await ws.send(peer.audio(chunk))
            n += 1
            await pace(started, n)
        deadline = time.monotonic() + 60
        while not got_audio and time.monotonic() < deadline:  # the call goes on: an answer
            await ws.send(peer.audio(SILENCE))
            n += 1
            await pace(started, n)
            if worker.session(call_id) is not None:
                got_audio = _bot_spoke(worker, call_id)
        assert got_audio, "the bot did not answer after the garbage"
        assert call_id in worker.calls()
    worker.wait_for(lambda: call_id not in worker.calls(), "ended after the hang-up")
    stream_lines = [line for line in log_lines if line.startswith("telnyx stream:")]
    dropped = [line for line in stream_lines if "dropped (later ones are counted)" in line]
    summary = [line for line in stream_lines if "messages dropped" in line]
    assert 3 <= len(dropped) <= 8, stream_lines  # one per kind, not one per message
    assert len(summary) == 1, stream_lines
    assert not any("!!! not base64" in line or "xxxx" in line for line in log_lines)


def _bot_spoke(worker: Worker, call_id: str) -> bool:
    session = worker.session(call_id)
    return session is not None and any(t.bot_text for t in session.turns)


@pytest.mark.real_time
@pytest.mark.parametrize(
    ("path", "first"),
    [
        ("/phone/ws", json.dumps({"event": "media", "media": {"payload": "AAAA"}})),
        ("/phone/ws", "not json at all"),
        ("/phone/ws", json.dumps([1, 2])),
        ("/phone/ws/twilio", json.dumps({"type": "start", "call_id": "x"})),  # Teler's start
        ("/phone/ws/teler", b"\x00\x01" * 80),  # raw audio where Teler's start belongs
        ("/phone/ws", "{" * 70_000),  # a huge first message
    ],
)
async def test_a_socket_that_does_not_start_a_call_is_closed(
    worker: Worker, path: str, first: str | bytes, log_lines: list[str]
) -> None:
    async with connect(worker.ws(path), max_size=None) as ws:
        await ws.send(first)
        await ws.send(json.dumps({"event": "media"}))
        code = await _closed_by_server(ws)
    assert code == 1008
    assert sum("not started" in line for line in log_lines) == 1, log_lines
    assert isinstance(worker.calls(), list)  # the worker is up


@pytest.mark.real_time
async def test_an_unknown_carrier_is_refused(worker: Worker) -> None:
    with pytest.raises((InvalidStatus, ConnectionClosed)):
        async with connect(worker.ws("/phone/ws/acme")) as ws:
            await ws.recv()


@pytest.mark.real_time
async def test_a_socket_that_sends_nothing_is_closed(worker: Worker, log_lines: list[str]) -> None:
    worker.app.state.phone.start_timeout = 1.0
    try:
        async with connect(worker.ws("/phone/ws")) as ws:
            code = await _closed_by_server(ws)
    finally:
        worker.app.state.phone.start_timeout = 10.0
    assert code == 1008
    assert any("no start message" in line for line in log_lines)


@pytest.mark.real_time
async def test_a_carrier_gone_silent_after_start_is_hung_up(worker: Worker) -> None:
    """The generic socket (gone_after_secs=2 in this bot): a start, then nothing at all."""
    call_id = f"test-silent-{uuid.uuid4().hex[:8]}"
    async with connect(worker.ws(f"/phone/ws/pcm?call_id={call_id}")) as ws:
        for message in PCMPeer().handshake():
            await ws.send(message)
        code = await _closed_by_server(ws)
    assert code in (1000, None)
    worker.wait_for(lambda: call_id not in worker.calls(), "ended")


@pytest.mark.real_time
async def test_a_frame_over_the_server_limit_ends_only_that_call(worker: Worker) -> None:
    call_id = f"test-huge-{uuid.uuid4().hex[:8]}"
    async with connect(worker.ws(f"/phone/ws/pcm?call_id={call_id}"), max_size=None) as ws:
        for message in PCMPeer().handshake():
            await ws.send(message)
        worker.wait_for(lambda: call_id in worker.calls(), "registered")
        with contextlib.suppress(ConnectionClosed):
            await ws.send(b"\x00" * (17 * 2**20))  # over uvicorn's 16 MiB
        code = await _closed_by_server(ws)
    assert code == 1009
    worker.wait_for(lambda: call_id not in worker.calls(), "ended")
    assert isinstance(worker.calls(), list)
