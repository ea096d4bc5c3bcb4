"""A scripted stand-in for OpenAI's Chat Completions API, served on loopback.

It speaks the wire protocol the ``openai`` SDK (and so Pipecat's ``OpenAILLMService``)
expects, and answers every ``POST /v1/chat/completions`` with the next reply of a script
the test provides::

    async with OpenAIChatServer([text("Hello there!"), tool_call("get_weather", {...})]) as s:
        llm = OpenAILLM(base_url=s.base_url, api_key="sk-test").build(BuildContext(env={}))
        ...
        assert s.requests[0].body["model"] == "gpt-4o-mini"

Streaming replies (``"stream": true``) go out as server-sent events the way OpenAI sends
them: ``data: {chat.completion.chunk}\\n\\n`` lines, a first chunk carrying the assistant
role, text as one delta per token, tool calls as a header delta (index, id, type, name)
followed by their arguments JSON in several fragments, a last choice chunk carrying
``finish_reason``, a usage-only chunk (``choices: []``) when the request asked for
``stream_options.include_usage``, and ``data: [DONE]``. Non-streaming requests get a
``chat.completion`` object.

Error replies: any HTTP status with OpenAI's error JSON (``server_error()``,
``unauthorized()``, ``rate_limited()``), and ``drop(...)``, which streams part of a reply
and then aborts the connection mid-body. ``GET /v1/models`` lists the configured models.

Every request is recorded (method, path, headers, parsed JSON body) in ``requests``
(chat completions only) and ``all_requests``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web

# ---- the script ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    """A text reply, streamed one token per delta (or in the given ``chunks``)."""

    content: str
    chunks: tuple[str, ...] | None = None
    finish_reason: str = "stop"
    prompt_tokens: int | None = None
    completion_tokens: int | None = None

    def pieces(self) -> list[str]:
        if self.chunks is not None:
            return list(self.chunks)
        return tokenize(self.content)


@dataclass(frozen=True)
class ToolCall:
    """One function call; its arguments JSON is streamed in ``fragments`` pieces."""

    name: str
    arguments: Mapping[str, Any] | str
    id: str | None = None
    fragments: int = 3

    @property
    def arguments_json(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments)


@dataclass(frozen=True)
class ToolCalls:
    """A reply made of one or more tool calls (``finish_reason: "tool_calls"``)."""

    calls: tuple[ToolCall, ...]
    finish_reason: str = "tool_calls"
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass(frozen=True)
class HTTPError:
    """An HTTP error status with OpenAI's ``{"error": {...}}`` body."""

    status: int
    message: str
    type: str
    code: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        return {
            "error": {"message": self.message, "type": self.type, "param": None, "code": self.code}
        }


@dataclass(frozen=True)
class Drop:
    """Stream ``partial`` as text deltas, then abort the connection before the stream ends."""

    partial: str = ""


Reply = Text | ToolCalls | HTTPError | Drop


def text(content: str, *, chunks: Sequence[str] | None = None, **kwargs: Any) -> Text:
    return Text(content, tuple(chunks) if chunks is not None else None, **kwargs)


def tool_call(
    name: str, arguments: Mapping[str, Any] | str, *, id: str | None = None, fragments: int = 3
) -> ToolCalls:
    return ToolCalls((ToolCall(name, arguments, id, fragments),))


def tool_calls(*calls: ToolCall) -> ToolCalls:
    return ToolCalls(tuple(calls))


#: OpenAI asks clients to retry 5xx and 429 after this long; the SDK honours it, which keeps
#: its retries fast here. Pass ``retry_after_ms=None`` to get the SDK's own backoff instead.
FAST_RETRY_MS = 10


def _retry_headers(retry_after_ms: int | None) -> dict[str, str]:
    return {"retry-after-ms": str(retry_after_ms)} if retry_after_ms is not None else {}


def server_error(*, retry_after_ms: int | None = FAST_RETRY_MS) -> HTTPError:
    return HTTPError(
        500,
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        headers=_retry_headers(retry_after_ms),
    )


def unauthorized(key: str = "sk-wrong") -> HTTPError:
    return HTTPError(
        401,
        f"Incorrect API key provided: {_mask(key)}. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        "invalid_request_error",
        code="invalid_api_key",
    )


def rate_limited(*, retry_after_ms: int | None = FAST_RETRY_MS) -> HTTPError:
    return HTTPError(
        429,
        "Rate limit reached for gpt-4o-mini in organization org-test on requests per min "
        "(RPM): Limit 3, Used 3, Requested 1. Please try again in 20s.",
        "requests",
        code="rate_limit_exceeded",
        headers=_retry_headers(retry_after_ms),
    )


def drop(partial: str = "") -> Drop:
    return Drop(partial)


_TOKEN = re.compile(r"\s*\S+|\s+")


def tokenize(content: str) -> list[str]:
    """Split text the way OpenAI streams it: each word with its leading whitespace."""
    return _TOKEN.findall(content)


def split_fragments(s: str, n: int) -> list[str]:
    """``s`` cut into ``n`` (or fewer, if it is shorter) non-empty consecutive pieces."""
    n = max(1, min(n, len(s)))
    size, extra = divmod(len(s), n)
    pieces, start = [], 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        pieces.append(s[start:end])
        start = end
    return [p for p in pieces if p]


def _mask(key: str) -> str:
    return key[:3] + "*" * max(0, len(key) - 7) + key[-4:] if len(key) > 7 else "***"


# ---- what was asked --------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")

    @property
    def bearer(self) -> str | None:
        auth = self.authorization or ""
        return auth[len("Bearer ") :] if auth.startswith("Bearer ") else None

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list((self.body or {}).get("messages") or [])


# ---- the server ------------------------------------------------------------------------------


class OpenAIChatServer:
    """``async with OpenAIChatServer(script) as server:`` serves on ``server.base_url``.

    ``api_key``: when set, requests without ``Authorization: Bearer <api_key>`` get a 401.
    ``chunk_delay``: seconds to sleep between streamed chunks.
    """

    def __init__(
        self,
        script: Iterable[Reply] = (),
        *,
        api_key: str | None = None,
        models: Sequence[str] = ("gpt-4o-mini",),
        chunk_delay: float = 0.0,
    ) -> None:
        self.script: list[Reply] = list(script)
        self.api_key = api_key
        self.models = tuple(models)
        self.chunk_delay = chunk_delay
        self.requests: list[RecordedRequest] = []
        self.all_requests: list[RecordedRequest] = []
        #: Chat requests that arrived after the script ran out (answered with a 400).
        self.unscripted: list[RecordedRequest] = []
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._changed = asyncio.Condition()
        self._ids = itertools.count(1)

    # -- lifecycle

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets
        self._port = server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def port(self) -> int:
        assert self._port is not None, "the server is not running"
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- for tests

    def add(self, *replies: Reply) -> None:
        """Append replies to the script."""
        self.script.extend(replies)

    async def wait_for_requests(self, count: int, timeout: float = 5.0) -> None:
        """Until ``count`` chat requests have arrived."""
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: len(self.requests) >= count), timeout
            )

    # -- handlers

    async def _record(self, request: web.Request) -> RecordedRequest:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
        )
        self.all_requests.append(recorded)
        return recorded

    def _authorized(self, recorded: RecordedRequest) -> bool:
        return self.api_key is None or recorded.authorization == f"Bearer {self.api_key}"

    async def _models(self, request: web.Request) -> web.StreamResponse:
        recorded = await self._record(request)
        if not self._authorized(recorded):
            return self._error(unauthorized(recorded.bearer or ""))
        created = int(time.time())
        return web.json_response(
            {
                "object": "list",
                "data": [
                    {"id": m, "object": "model", "created": created, "owned_by": "system"}
                    for m in self.models
                ],
            }
        )

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        recorded = await self._record(request)
        async with self._changed:
            self.requests.append(recorded)
            self._changed.notify_all()

        if not self._authorized(recorded):
            return self._error(unauthorized(recorded.bearer or ""))
        body = recorded.body if isinstance(recorded.body, dict) else {}
        if not body.get("messages"):
            return self._error(
                HTTPError(400, "'messages' is a required property", "invalid_request_error")
            )
        if not self.script:
            self.unscripted.append(recorded)
            return self._error(
                HTTPError(
                    400,
                    f"OpenAIChatServer: no scripted reply left for request #{len(self.requests)}",
                    "invalid_request_error",
                    headers={"x-should-retry": "false"},
                )
            )
        reply = self.script.pop(0)
        if isinstance(reply, HTTPError):
            return self._error(reply)

        model = body.get("model") or self.models[0]
        completion_id = f"chatcmpl-fake{next(self._ids):04d}"
        created = int(time.time())
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return await self._stream(
                request, reply, body, completion_id, created, model, include_usage
            )
        if isinstance(reply, Drop):
            assert request.transport is not None
            request.transport.abort()
            return web.Response()  # never reaches the client
        return web.json_response(self._completion(reply, body, completion_id, created, model))

    @staticmethod
    def _error(error: HTTPError) -> web.Response:
        return web.json_response(error.body(), status=error.status, headers=dict(error.headers))

    # -- replies

    def _usage(
        self, reply: Text | ToolCalls, body: dict[str, Any], completion: int
    ) -> dict[str, Any]:
        prompt = reply.prompt_tokens
        if prompt is None:
            prompt = sum(len(str(m.get("content") or "").split()) + 4 for m in body["messages"])
        if reply.completion_tokens is not None:
            completion = reply.completion_tokens
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def _completion(
        self,
        reply: Text | ToolCalls,
        body: dict[str, Any],
        completion_id: str,
        created: int,
        model: str,
    ) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
        if isinstance(reply, Text):
            message["content"] = reply.content
            completion_tokens = len(reply.pieces())
        else:
            message["tool_calls"] = [
                {
                    "id": call.id or f"call_fake{i}",
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments_json},
                }
                for i, call in enumerate(reply.calls)
            ]
            completion_tokens = sum(len(c.arguments_json) // 4 + 1 for c in reply.calls)
        return {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_fake",
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": reply.finish_reason,
                }
            ],
            "usage": self._usage(reply, body, completion_tokens),
        }

    async def _stream(
        self,
        request: web.Request,
        reply: Text | ToolCalls | Drop,
        body: dict[str, Any],
        completion_id: str,
        created: int,
        model: str,
        include_usage: bool,
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            status=200,
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
            },
        )
        await response.prepare(request)

        def chunk(
            delta: dict[str, Any] | None,
            finish_reason: str | None = None,
            usage: dict[str, Any] | None = None,
        ) -> dict[str, Any]:
            data: dict[str, Any] = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_fake",
                "choices": []
                if delta is None
                else [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
                ],
            }
            if include_usage:
                data["usage"] = usage
            return data

        async def send(data: dict[str, Any] | str) -> None:
            payload = data if isinstance(data, str) else json.dumps(data)
            await response.write(f"data: {payload}\n\n".encode())
            if self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)

        if isinstance(reply, Drop):
            await send(chunk({"role": "assistant", "content": "", "refusal": None}))
            for piece in tokenize(reply.partial):
                await send(chunk({"content": piece}))
            # Abort (RST) rather than close, so the client sees the body end mid-chunk.
            assert request.transport is not None
            request.transport.abort()
            return response

        if isinstance(reply, Text):
            pieces = reply.pieces()
            await send(chunk({"role": "assistant", "content": "", "refusal": None}))
            for piece in pieces:
                await send(chunk({"content": piece}))
            completion_tokens = len(pieces)
        else:
            completion_tokens = 0
            for index, call in enumerate(reply.calls):
                header = {
                    "index": index,
                    "id": call.id or f"call_fake{next(self._ids):04d}",
                    "type": "function",
                    "function": {"name": call.name, "arguments": ""},
                }
                delta: dict[str, Any] = {"tool_calls": [header]}
                if index == 0:
                    delta = {"role": "assistant", "content": None, **delta}
                await send(chunk(delta))
                for fragment in split_fragments(call.arguments_json, call.fragments):
                    await send(
                        chunk(
                            {"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}
                        )
                    )
                    completion_tokens += 1
        await send(chunk({}, finish_reason=reply.finish_reason))
        if include_usage:
            await send(chunk(None, usage=self._usage(reply, body, completion_tokens)))
        await send("[DONE]")
        await response.write_eof()
        return response
