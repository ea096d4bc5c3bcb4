"""A loopback TCP relay that can stall: a vendor whose network stops answering mid-call.

Put it between a client and any of the local vendor servers (``StallProxy(server.port)``,
then point the client at ``proxy.port``). It relays bytes both ways until ``stall()``; from
then on it relays nothing and reads nothing, in either direction, and keeps every socket
open: the client's writes fill the kernel's buffers and then block, and it never hears back,
as with a vendor whose host or link hung. Nothing is closed until the proxy stops.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Self


class StallProxy:
    """``async with StallProxy(target_port) as proxy:`` relays ``proxy.port`` to the target."""

    def __init__(self, target_port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.target_port = target_port
        self.port = 0
        #: Set by ``stall()``: nothing moves any more.
        self.stalled = asyncio.Event()
        #: Connections relayed so far.
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._relays: set[asyncio.Task[None]] = set()

    def stall(self) -> None:
        self.stalled.set()

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._accept, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
        for task in self._relays:
            task.cancel()
        for writer in self._writers:
            writer.transport.abort()
        if self._relays:
            await asyncio.wait(self._relays, timeout=5)
        self._server = None

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(self.host, self.target_port)
        except OSError:
            client_w.transport.abort()
            return
        self.connections += 1
        self._writers += [client_w, server_w]
        for reader, writer in ((client_r, server_w), (server_r, client_w)):
            task = asyncio.get_running_loop().create_task(self._relay(reader, writer))
            self._relays.add(task)
            task.add_done_callback(self._relays.discard)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while not self.stalled.is_set():
                data = await reader.read(65536)
                if self.stalled.is_set():
                    break  # read, never passed on
                if not data:
                    writer.close()
                    return
                writer.write(data)
                await writer.drain()
            await asyncio.Event().wait()  # stalled: hold everything open until stopped
