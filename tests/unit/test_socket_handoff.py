"""A carrier's connection handed from one uvicorn server to another over a Unix socket
(``voicebot.server.socket_handoff``): the receiving app answers the upgrade and talks to the
client on the very TCP connection the first server accepted, and the first forgets it.

Also the uvicorn members the handoff reads, each named when an upgrade moves it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import WebSocket  # at module level: FastAPI reads the routes' annotations

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="Unix sockets carry no fds")


async def test_the_uvicorn_members_the_handoff_reads_are_there() -> None:
    # async: uvicorn's protocol wants the running loop
    import uvicorn
    from fastapi import FastAPI
    from uvicorn.server import ServerState

    config = uvicorn.Config(FastAPI(), ws="websockets-sansio", lifespan="off")
    config.load()
    assert hasattr(config, "ws_protocol_class"), "uvicorn.Config.ws_protocol_class is gone"
    protocol = config.ws_protocol_class(config=config, server_state=ServerState(), app_state={})
    for member in ("transport", "disconnected", "receive", "connection_made", "data_received"):
        assert hasattr(protocol, member), f"uvicorn's WebSocket protocol has no {member!r}"
    assert protocol.receive.__self__ is protocol, "uvicorn's receive is no longer its method"
    server = uvicorn.Server(config)
    assert hasattr(server, "server_state"), "uvicorn.Server.server_state is gone"
    assert hasattr(config.lifespan_class(config), "state"), "uvicorn's lifespan has no state"


@contextlib.asynccontextmanager
async def serving(server: Any, sock: socket.socket | None = None) -> AsyncIterator[None]:
    task = asyncio.create_task(server.serve(sockets=[sock] if sock else None))
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    assert server.started, "a test server did not start"
    try:
        yield
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def test_a_connection_is_answered_by_the_server_it_is_handed_to(tmp_path: Path) -> None:
    import uvicorn
    from fastapi import FastAPI
    from websockets.asyncio.client import connect

    from voicebot.server.socket_handoff import (
        HandoffListener,
        hand_over,
        handoff_connection,
        handoff_path,
        replayed_request,
    )

    worker_app, front_app = FastAPI(), FastAPI()
    handed: list[str] = []

    @worker_app.websocket("/phone/ws/{carrier}")
    async def answer(websocket: WebSocket, carrier: str) -> None:
        await websocket.accept()
        await websocket.send_text(
            json.dumps(
                {
                    "carrier": carrier,
                    "query": dict(websocket.query_params),
                    "authorization": websocket.headers.get("authorization"),
                    "client": websocket.client.host if websocket.client else None,
                }
            )
        )
        async for text in websocket.iter_text():
            await websocket.send_text(f"worker heard {text}")

    uds = tmp_path / "w0.sock"

    @front_app.websocket("/in/{carrier}")
    async def take(websocket: WebSocket, carrier: str) -> None:
        connection = handoff_connection(websocket)
        assert connection is not None, "uvicorn's connection could not be found"
        path = f"/phone/ws/{carrier}?call_id=twilio-1"
        await hand_over(connection, uds, replayed_request(websocket.scope, path))
        handed.append(carrier)  # and the connection is no longer this server's

    worker = uvicorn.Server(
        uvicorn.Config(worker_app, uds=str(uds), ws="websockets-sansio", log_level="warning")
    )
    front = uvicorn.Server(uvicorn.Config(front_app, ws="websockets-sansio", log_level="warning"))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    async with serving(worker), serving(front, sock):
        listener = HandoffListener(worker, handoff_path(uds))
        await listener.start()
        try:
            # A link that brings no descriptor is refused, and the listener goes on.
            reader, writer = await asyncio.open_unix_connection(str(handoff_path(uds)))
            writer.write(b"\x00\x00\x00\x05hello")
            assert await asyncio.wait_for(reader.read(), 10) == b""  # closed, no ack
            writer.close()
            async with connect(
                f"ws://127.0.0.1:{port}/in/twilio?token=abc",
                additional_headers={"Authorization": "Bearer not-for-the-worker"},
                open_timeout=10,
            ) as ws:
                # At once, as a carrier sends "connected" and "start" after the 101: the first
                # message reaches the worker (that the front stops reading before the send is
                # checked with a fake transport below: here both servers share one loop).
                await ws.send("first")
                hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
                assert hello == {
                    "carrier": "twilio",
                    "query": {"call_id": "twilio-1"},
                    "authorization": None,  # the supervisor's credentials stay there
                    "client": "127.0.0.1",  # the carrier's own address, not a relay's
                }
                assert await asyncio.wait_for(ws.recv(), 10) == "worker heard first"
                for text in ("one", "two"):
                    await ws.send(text)
                    assert await asyncio.wait_for(ws.recv(), 10) == f"worker heard {text}"
                assert handed == ["twilio"] and listener.adopted == 1
                # Then the front server lets go of the call, and it goes on without it.
                for _ in range(1000):
                    if not [c for c in front.server_state.connections if hasattr(c, "conn")]:
                        break
                    await asyncio.sleep(0.01)
                else:
                    raise AssertionError("the front server kept the handed-over connection")
                await ws.send("three")
                assert await asyncio.wait_for(ws.recv(), 10) == "worker heard three"
        finally:
            await listener.close()


class FakeTransport:
    """What ``hand_over`` uses of a uvicorn connection's transport, recorded."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.calls: list[str] = []

    def get_extra_info(self, name: str) -> Any:
        if name == "socket":
            self.calls.append("descriptor taken")  # to be sent, at once
            return self.sock
        return None

    def pause_reading(self) -> None:
        self.calls.append("pause_reading")

    def resume_reading(self) -> None:
        self.calls.append("resume_reading")

    def abort(self) -> None:
        self.calls.append("abort")
        self.sock.close()


def fake_connection() -> Any:
    from voicebot.server.socket_handoff import Connection

    class Protocol:
        transport = FakeTransport()
        disconnected = True

    return Connection(Protocol())


async def test_a_worker_that_does_not_listen_leaves_the_connection_to_be_relayed(
    tmp_path: Path,
) -> None:
    from voicebot.server.socket_handoff import HandoffRefused, hand_over

    connection = fake_connection()
    with pytest.raises(HandoffRefused):
        await hand_over(connection, tmp_path / "nobody.sock", b"GET / HTTP/1.1\r\n\r\n")
    assert connection.transport.calls == []  # still read and owned here: relayed next


async def test_a_worker_that_never_acknowledges_gets_the_connection_anyway(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the descriptor is sent the supervisor lets go, ack or not: it must never write
    to a connection the worker may own."""
    from voicebot.server import socket_handoff

    monkeypatch.setattr(socket_handoff, "HANDOFF_SECS", 0.2)
    path = tmp_path / "w0.sock"
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    silent.bind(str(socket_handoff.handoff_path(path)))
    silent.listen(1)  # accepts (in the kernel), never reads, never answers
    connection = fake_connection()
    try:
        with pytest.raises(TimeoutError):
            await socket_handoff.hand_over(connection, path, b"GET / HTTP/1.1\r\n\r\n")
    finally:
        silent.close()
    # Reading stopped before the descriptor left; let go right after.
    assert connection.transport.calls == ["pause_reading", "descriptor taken", "abort"]


async def test_a_descriptor_that_could_not_be_sent_leaves_the_connection_to_be_relayed(
    tmp_path: Path,
) -> None:
    from voicebot.server import socket_handoff

    path = tmp_path / "w0.sock"
    listening = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listening.bind(str(socket_handoff.handoff_path(path)))
    listening.listen(1)
    connection = fake_connection()
    connection.transport.sock.close()  # the carrier hung up: its descriptor is gone (-1)
    try:
        with pytest.raises(socket_handoff.HandoffRefused):
            await socket_handoff.hand_over(connection, path, b"GET / HTTP/1.1\r\n\r\n")
    finally:
        listening.close()
    assert connection.transport.calls == ["pause_reading", "descriptor taken", "resume_reading"]


def test_a_websocket_not_served_by_uvicorn_is_relayed_instead() -> None:
    from voicebot.server.socket_handoff import handoff_connection

    class NotUvicorn:
        async def _receive(self) -> dict[str, Any]:
            return {}

    assert handoff_connection(object()) is None
    assert handoff_connection(NotUvicorn()) is None


def test_the_replayed_request_names_the_workers_path_and_drops_credentials() -> None:
    from voicebot.server.socket_handoff import replayed_request

    scope = {
        "headers": [
            (b"host", b"bot.example.com"),
            (b"authorization", b"Bearer x"),
            (b"cookie", b"a=b"),
            (b"sec-websocket-key", b"k=="),
            (b"x-forwarded-for", b"203.0.113.9"),
            (b"x-voicebot-anything", b"no"),
        ]
    }
    request = replayed_request(scope, "/phone/ws/twilio?call_id=c")
    assert request == (
        b"GET /phone/ws/twilio?call_id=c HTTP/1.1\r\n"
        b"host: bot.example.com\r\nsec-websocket-key: k==\r\n"
        b"x-forwarded-for: 203.0.113.9\r\n\r\n"
    )
