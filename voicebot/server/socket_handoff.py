"""A carrier's media socket handed to the worker that takes the call, instead of relayed.

Why: relayed, every 20 ms media message of every call went through the supervisor twice
(decoded from the carrier's WebSocket, encoded onto the worker's Unix socket, and back for
the bot's audio): ~2 % of a core per call in the supervisor, one more process to be
scheduled on the way of every frame, on hosts where CPU is the limit (docs/deploy.md, "The
supervisor hands the socket over"). Handed over, the worker's own server speaks to the
carrier on the same TCP connection, and the supervisor is out of the call's path.

How (Linux and macOS: Unix sockets carry file descriptors, ``SCM_RIGHTS``):

1. The supervisor's route has the carrier's upgrade request but has not answered it. It
   stops reading the connection, sends the worker (over ``handoff_path(worker socket)``)
   the request to replay, with the route's path and query the worker answers, and the
   connection's file descriptor.
2. At once the supervisor drops its copy of the connection without a byte written
   (``abort``: no TCP FIN while the descriptor in flight or the worker's copy is open), so
   nothing it does later (a shutdown, an error) can write to it. The worker acknowledges
   with one byte; without it the call is the worker's or gone.
3. The worker adopts the descriptor into its uvicorn server as uvicorn adopts an upgraded
   HTTP connection (``connect_accepted_socket`` with uvicorn's WebSocket protocol, then the
   request replayed into it): from there on it is an ordinary connection of the worker's
   app, whose ``/phone/ws/{carrier}`` answers the 101 and runs the call. A worker killed
   mid-call closes the carrier's connection with it (the kernel does; with no WebSocket
   close frame, where the relay sent one).

Where a handoff is not possible (TLS terminated by ``voicebot serve`` itself, a uvicorn
whose internals moved, a worker whose handoff socket is not there), the supervisor relays
as before, with a warning once. A call the worker refuses after the handoff (full, a bad
id) holds its slot until the heartbeat shows it never started (``pool.UNCONFIRMED_SECS``).

The uvicorn members used here (``receive.__self__`` being the WebSocketsSansIOProtocol with
its ``transport`` and ``disconnected``; ``Config.ws_protocol_class``;
``Server.server_state``, ``Server.lifespan.state``) are checked by
``tests/unit/test_socket_handoff.py``, which names the one that moved; ``pyproject.toml``
asks for a uvicorn that has them.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import os
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from loguru import logger

#: Longest replayed request + header block accepted (a carrier's upgrade is < 4 KiB).
MAX_REQUEST = 64 * 1024
#: Seconds the supervisor waits for the worker to take a socket.
HANDOFF_SECS = 5.0
#: The carrier's headers passed on to the worker (no credentials of the supervisor's).
PASSED_HEADERS = (b"host", b"upgrade", b"connection", b"user-agent", b"origin", b"x-real-ip")
PASSED_PREFIXES = (b"sec-websocket-", b"x-forwarded-")
SUPPORTED = sys.platform != "win32" and hasattr(socket, "send_fds")


def handoff_path(worker_socket: str | Path) -> Path:
    """Where a worker listens for handed-over connections, beside its HTTP socket."""
    return Path(f"{worker_socket}.handoff")


# ---- the supervisor's side ---------------------------------------------------------------


class Connection:
    """The supervisor's view of a carrier's connection not yet answered."""

    def __init__(self, protocol: Any) -> None:
        self.protocol = protocol
        self.transport: asyncio.Transport = protocol.transport

    def fileno(self) -> int:
        sock = self.transport.get_extra_info("socket")
        return int(sock.fileno())

    async def release(self) -> None:
        """Forget the connection (the worker has its own descriptor): no byte written, no
        FIN sent. Returns once uvicorn has seen it go, so it neither logs nor answers."""
        self.transport.abort()
        for _ in range(100):
            if getattr(self.protocol, "disconnected", True):
                return
            await asyncio.sleep(0)


def handoff_connection(websocket: Any) -> Connection | None:
    """The connection under a Starlette ``websocket`` not yet accepted, if it can be handed
    to another process: plain TCP served by uvicorn's sans-I/O WebSocket protocol."""
    if not SUPPORTED:
        return None
    protocol = getattr(getattr(websocket, "_receive", None), "__self__", None)
    transport = getattr(protocol, "transport", None)
    if transport is None or not hasattr(protocol, "disconnected"):
        return None
    if transport.get_extra_info("sslcontext") is not None or transport.is_closing():
        return None
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return None
    return Connection(protocol)


def replayed_request(scope: Mapping[str, Any], path: str) -> bytes:
    """The upgrade request the worker replays: ``path`` (with its query) and the carrier's
    headers the worker needs (the WebSocket handshake's, the host, the proxy's), no others:
    none of the supervisor's credentials."""
    lines = [f"GET {path} HTTP/1.1\r\n".encode("latin-1")]
    for name, value in scope.get("headers", []):
        if name.lower() in PASSED_HEADERS or name.lower().startswith(PASSED_PREFIXES):
            lines.append(name + b": " + value + b"\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)


class HandoffRefused(OSError):
    """The worker could not be reached: nothing left the supervisor, which still holds the
    connection (and relays it instead)."""


async def hand_over(connection: Connection, worker_socket: str | Path, request: bytes) -> None:
    """Send ``connection`` and the ``request`` to replay to the worker.

    Raises ``HandoffRefused`` if the descriptor did not leave (the worker's handoff socket
    cannot be reached, or the send failed): the connection is still the supervisor's. Once
    the descriptor is sent the supervisor lets go of its copy at once, whatever follows, so
    it can never write to a connection the worker owns; an ``OSError`` or ``TimeoutError``
    after that means the worker did not acknowledge: the call is the worker's or gone, not
    the supervisor's."""
    if len(request) > MAX_REQUEST:
        raise HandoffRefused(f"the upgrade request is over {MAX_REQUEST} bytes")
    loop = asyncio.get_running_loop()
    try:
        link = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    except OSError as e:  # EMFILE: nothing left this process
        raise HandoffRefused(f"no socket for the handoff: {e}") from e
    with link:
        link.setblocking(False)
        try:
            async with asyncio.timeout(HANDOFF_SECS):
                await loop.sock_connect(link, str(handoff_path(worker_socket)))
        except (OSError, TimeoutError) as e:
            raise HandoffRefused(f"the worker's handoff socket: {e or type(e).__name__}") from e
        # Stop reading it here first: both processes hold the same connection, and the
        # carrier's first messages (Twilio's "connected" and "start") follow the worker's 101
        # at once; read here, they would be lost to the call.
        connection.transport.pause_reading()
        payload = len(request).to_bytes(4, "big") + request
        try:
            fds = array.array("i", [connection.fileno()])
            # The descriptor rides on the first bytes; the rest (if any) follows plainly.
            sent = link.sendmsg([payload], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
        except OSError as e:  # not sent (the carrier hung up, the worker went): still ours
            connection.transport.resume_reading()
            raise HandoffRefused(f"the descriptor could not be sent: {e}") from e
        await connection.release()  # the worker's now (the descriptor in flight holds it)
        async with asyncio.timeout(HANDOFF_SECS):
            if sent < len(payload):
                await loop.sock_sendall(link, payload[sent:])
            ack = await loop.sock_recv(link, 1)
    if ack != b"\x01":
        raise OSError("the worker did not acknowledge the connection")


# ---- the worker's side ---------------------------------------------------------------------


async def _receive_one(link: socket.socket) -> tuple[bytes, int]:
    """One handed-over connection: (request, descriptor)."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(link.fileno(), readable)
    try:
        await ready
    finally:
        loop.remove_reader(link.fileno())
    data, fds, _flags, _addr = socket.recv_fds(link, MAX_REQUEST + 4, 1)
    if not fds:
        raise OSError("a handoff without a descriptor")
    try:
        # recv_fds sets no close-on-exec: a program the bot starts must not inherit the call.
        os.set_inheritable(fds[0], False)
        if len(data) < 4:
            raise OSError("a handoff without its request")
        size = int.from_bytes(data[:4], "big")
        if size > MAX_REQUEST:
            raise OSError("a handoff request too long")
        request = data[4 : 4 + size]
        while len(request) < size:
            more = await loop.sock_recv(link, size - len(request))
            if not more:
                raise OSError("the supervisor closed the handoff mid-request")
            request += more
    except BaseException:
        for fd in fds:
            with contextlib.suppress(OSError):
                socket.close(fd)
        raise
    return request, fds[0]


class HandoffListener:
    """The worker's end: adopts every handed-over connection into ``server`` (a started
    ``uvicorn.Server``) as a WebSocket connection of its app.

    A plain listening socket, not asyncio's streams: a stream transport reads as soon as
    data arrives, with ``recv``, which would drop the descriptor riding on it."""

    def __init__(self, server: Any, path: Path) -> None:
        self.server = server
        self.path = path
        self.adopted = 0
        self._sock: socket.socket | None = None
        self._task: asyncio.Task[None] | None = None
        self._links: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(self.path))
        sock.listen(64)
        sock.setblocking(False)
        self._sock = sock
        self._task = asyncio.create_task(self._accept(sock))

    async def close(self) -> None:
        tasks = [t for t in (self._task, *self._links) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._sock is not None:
            self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _accept(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                link, _ = await loop.sock_accept(sock)
            except OSError as e:  # EMFILE and the like: the next call may find room
                logger.error(f"worker: the handoff socket could not accept: {e}")
                await asyncio.sleep(0.1)
                continue
            link.setblocking(False)
            task = asyncio.create_task(self._take(link))
            self._links.add(task)
            task.add_done_callback(self._links.discard)

    async def _take(self, link: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        with link:
            try:
                async with asyncio.timeout(HANDOFF_SECS):
                    request, fd = await _receive_one(link)
                try:
                    sock = socket.socket(fileno=fd)
                except OSError:
                    os.close(fd)  # not a socket
                    raise
                try:
                    await self.adopt(sock, request)
                except BaseException:
                    sock.close()
                    raise
            except Exception as e:  # a bad handoff costs that call only, never the listener
                logger.error(f"worker: a handed-over call could not be taken: {e!r}")
                return
            with contextlib.suppress(OSError):  # the supervisor may have stopped waiting
                await loop.sock_sendall(link, b"\x01")

    async def adopt(self, sock: socket.socket, request: bytes) -> None:
        """``sock`` served as uvicorn serves an upgraded connection: its WebSocket protocol
        given the transport, then the request replayed into it."""
        server = self.server
        config = server.config
        protocol = config.ws_protocol_class(
            config=config, server_state=server.server_state, app_state=server.lifespan.state
        )
        loop = asyncio.get_running_loop()
        await loop.connect_accepted_socket(lambda: protocol, sock)
        protocol.data_received(request)
        self.adopted += 1
