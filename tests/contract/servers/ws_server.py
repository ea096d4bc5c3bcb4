"""What the vendor WebSocket servers share: a loopback server's lifecycle, and waiting for
what it has recorded."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Self

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response


class LocalWebSocketServer:
    """A WebSocket server on loopback (a free port by default); subclasses speak a vendor's
    protocol in ``_handle`` and check its handshake in ``_process_request``, and call
    ``_notify()`` whenever they record something a test may be waiting for."""

    def __init__(self) -> None:
        self._server: Server | None = None
        self._changed = asyncio.Condition()
        self.host = "127.0.0.1"
        self.port = 0

    async def _handle(self, ws: ServerConnection) -> None:
        raise NotImplementedError

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        return None

    # ---- lifecycle ----------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> Self:
        self._server = await serve(
            self._handle, host, port, process_request=self._process_request, max_size=None
        )
        self.host, self.port = self._server.sockets[0].getsockname()[:2]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close(close_connections=True)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 5)
            self._server = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- waiting ------------------------------------------------------------------------------

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait until ``predicate()`` holds, re-checked whenever the server records something."""
        try:
            async with asyncio.timeout(timeout):
                async with self._changed:
                    await self._changed.wait_for(predicate)
        except TimeoutError:
            raise AssertionError(f"server condition not met within {timeout}s") from None

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()
