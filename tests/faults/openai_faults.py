"""The local OpenAI-protocol server (``tests/contract/servers/openai_chat.py``) with the
faults a chat-completions endpoint shows in the field, scriptable per request.

``FaultyOpenAIServer`` takes the same script as ``OpenAIChatServer`` plus these replies:

- ``Hang()``: the request is read and never answered (no status, no byte);
- ``Stall(partial)``: a 200 stream that sends ``partial`` and then nothing more;
- ``SlowFirst(secs, content)``: a 200 stream whose first token comes after ``secs``;
- ``Garbage()``: a 200 event stream whose events are not JSON;
- ``Empty()``: a 200 event stream with no choices at all (``[DONE]`` only).

Hung and stalled replies wait on ``release`` (set when the server stops, or by a test), so a
server never holds a test's teardown. The base server's ``drop(...)``, ``server_error()``,
``rate_limited(...)`` and ``unauthorized()`` cover the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.contract.servers.openai_chat import HTTPError, OpenAIChatServer, Reply, tokenize

#: Longest a hung or stalled reply waits for ``release``: the server's own bound.
HOLD_SECS = 60.0


@dataclass(frozen=True)
class Hang:
    """Read the request, answer nothing."""


@dataclass(frozen=True)
class Stall:
    """Stream ``partial`` (token by token), then nothing more."""

    partial: str = ""


@dataclass(frozen=True)
class SlowFirst:
    """Stream ``content``, its first token after ``secs``."""

    secs: float
    content: str


@dataclass(frozen=True)
class Garbage:
    """A 200 event stream of events that are not JSON."""

    lines: tuple[str, ...] = ("<html>Bad gateway</html>", "{not json")


@dataclass(frozen=True)
class Empty:
    """A 200 event stream with no chunk before ``[DONE]``."""


Fault = Hang | Stall | SlowFirst | Garbage | Empty
FAULTS = (Hang, Stall, SlowFirst, Garbage, Empty)


def rate_limited_for(seconds: int) -> HTTPError:
    """A 429 asking the client to wait ``seconds`` (OpenAI's ``Retry-After`` header)."""
    return HTTPError(
        429,
        f"Rate limit reached for gpt-4o-mini. Please try again in {seconds}s.",
        "requests",
        code="rate_limit_exceeded",
        headers={"retry-after": str(seconds)},
    )


class FaultyOpenAIServer(OpenAIChatServer):
    """``OpenAIChatServer`` whose script may also hold the faults above."""

    def __init__(self, script: Any = (), **kwargs: Any) -> None:
        super().__init__(script, **kwargs)
        self.release = asyncio.Event()
        #: (kind of fault, monotonic time it was served), in order.
        self.faults_served: list[tuple[str, float]] = []

    async def __aexit__(self, *exc: object) -> None:
        self.release.set()
        await super().__aexit__(*exc)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        if not (self.script and isinstance(self.script[0], FAULTS)):
            return await super()._chat(request)
        try:
            return await self._fault(request)
        except ConnectionError:  # the client gave up on us (it failed over): expected
            return web.Response(status=499)

    async def _fault(self, request: web.Request) -> web.StreamResponse:
        fault: Reply | Fault = self.script.pop(0)
        recorded = await self._record(request)
        async with self._changed:
            self.requests.append(recorded)
            self._changed.notify_all()
        self.faults_served.append((type(fault).__name__, time.monotonic()))
        if isinstance(fault, Hang):
            await self._hold()
            return web.Response(status=504)
        response = web.StreamResponse(
            status=200, headers={"Content-Type": "text/event-stream; charset=utf-8"}
        )
        await response.prepare(request)
        if isinstance(fault, Garbage):
            for line in fault.lines:
                await response.write(f"data: {line}\n\n".encode())
        elif isinstance(fault, Stall):
            await self._send(response, {"role": "assistant", "content": ""})
            for piece in tokenize(fault.partial):
                await self._send(response, {"content": piece})
            await self._hold()
            return response
        elif isinstance(fault, SlowFirst):
            await self._send(response, {"role": "assistant", "content": ""})
            await asyncio.sleep(fault.secs)
            for piece in tokenize(fault.content):
                await self._send(response, {"content": piece})
            await self._send(response, {}, finish_reason="stop")
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def _hold(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.release.wait(), HOLD_SECS)

    @staticmethod
    async def _send(
        response: web.StreamResponse, delta: dict[str, Any], finish_reason: str | None = None
    ) -> None:
        chunk = {
            "id": "chatcmpl-fault",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": "gpt-4o-mini",
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
        }
        await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
