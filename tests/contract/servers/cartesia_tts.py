"""A local server speaking Cartesia's streaming TTS WebSocket protocol (``/tts/websocket``).

It follows the public protocol (API version 2026-03-01), not just what one client parses:

- Handshake: ``GET /tts/websocket`` with the key in ``X-API-Key`` and the API version in
  ``Cartesia-Version`` (browsers may pass ``?api_key=`` and ``?cartesia_version=`` instead). A bad
  or missing key is refused with HTTP 401, a missing or malformed version with 400, an unknown
  path with 404, each with Cartesia's JSON error object as the body.
- Client to server, JSON text messages. A generation request::

      {"model_id": ..., "transcript": ..., "voice": {"mode": "id", "id": ...},
       "output_format": {"container": "raw", "encoding": "pcm_s16le", "sample_rate": 24000},
       "context_id": ..., "continue": true|false, "add_timestamps": true, "language": "en", ...}

  Requests sharing a ``context_id`` are continuations of one utterance and are generated in
  order; ``continue: false`` closes the context (its transcript may be empty). A request with
  ``flush: true`` asks for a ``flush_done`` once its text is generated. ``{"context_id": ...,
  "cancel": true}`` stops a context: nothing more is sent for it.
- Server to client, per context: ``chunk`` messages with base64 audio, ``timestamps`` messages
  with word timestamps (when ``add_timestamps`` is set) relative to the start of the context,
  ``flush_done`` after a flush, and ``done`` once a closed context has been generated. A request
  that can't be served gets ``{"type": "error", "done": true, "status_code": ..., "error_code":
  ..., "title": ..., "message": ..., "context_id": ...}`` and its context is over.

The audio is deterministic: a 440 Hz sine tone, ``seconds_per_char`` seconds for each character
of the transcript, in the requested encoding and sample rate, cut into ``chunk_ms`` chunks.
With ``max_buffer_delay_ms: 0`` the server flushes each request on its own and marks the
boundary with ``flush_done``, as Cartesia does in that mode.

Failure modes for tests: ``fail_contexts`` answers the next N new contexts with an ``error``;
unknown models or voices (when ``models``/``voices`` are given) are errors as on the real service.

Faults on one context, for the fault-injection suite (``fault=``): the ``fault_context``-th
context opened (counted over every connection) meets ``"error"`` (an ``error`` message, with
the ``error_*`` fields, instead of audio), ``"drop"`` (the connection aborted, no close frame,
after ``fault_after_chunks`` of its audio chunks) or ``"refuse"`` (the connection aborted as
the context opens, and the server stops listening: reconnects are refused).
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import numpy as np
from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from tests.contract.servers.ws_server import LocalWebSocketServer

TTS_PATH = "/tts/websocket"
TONE_HZ = 440.0
ENCODINGS = {"pcm_s16le": 2, "pcm_f32le": 4}
SAMPLE_RATES = {8000, 16000, 22050, 24000, 44100, 48000}
_VERSION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass
class TTSContext:
    """One ``context_id`` on one connection: what was asked and what was sent."""

    context_id: str
    #: Its number among the contexts the server opened (1 for the first).
    index: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    sample_rate: int = 0
    encoding: str = ""
    chunks_sent: int = 0
    audio_bytes_sent: int = 0
    words_sent: list[tuple[str, float, float]] = field(default_factory=list)
    flushes: int = 0
    closed: bool = False  # continue: false received
    done: bool = False  # "done" sent
    cancelled: bool = False
    error: dict[str, Any] | None = None
    #: Requests that arrived after the context was over (done, error or cancelled).
    late_requests: list[dict[str, Any]] = field(default_factory=list)
    _elapsed: float = 0.0  # seconds of audio generated so far, for timestamps
    _phase: int = 0  # samples generated so far, so the tone is continuous
    _queue: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue, repr=False)
    _task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def transcript(self) -> str:
        return "".join(r.get("transcript", "") for r in self.requests)

    @property
    def audio_seconds(self) -> float:
        width = ENCODINGS.get(self.encoding, 2)
        return self.audio_bytes_sent / (width * self.sample_rate) if self.sample_rate else 0.0

    @property
    def over(self) -> bool:
        return self.done or self.cancelled or self.error is not None


@dataclass
class TTSConnection:
    """One WebSocket connection and every message it carried."""

    path: str
    query: dict[str, list[str]]
    headers: Headers
    #: Every message received, parsed, cancels included.
    received: list[dict[str, Any]] = field(default_factory=list)
    #: Every message sent (chunk audio is kept, base64 as on the wire).
    sent: list[dict[str, Any]] = field(default_factory=list)
    contexts: dict[str, TTSContext] = field(default_factory=dict)
    closed: bool = False

    @property
    def api_key(self) -> str | None:
        return self.headers.get("X-API-Key") or (self.query.get("api_key") or [None])[0]

    @property
    def api_version(self) -> str | None:
        return (
            self.headers.get("Cartesia-Version")
            or (self.query.get("cartesia_version") or [None])[0]
        )

    def generation_requests(self) -> list[dict[str, Any]]:
        return [m for m in self.received if not m.get("cancel")]

    def cancels(self) -> list[dict[str, Any]]:
        return [m for m in self.received if m.get("cancel")]

    def sent_types(self, context_id: str | None = None) -> list[str]:
        return [
            str(m.get("type"))
            for m in self.sent
            if context_id is None or m.get("context_id") == context_id
        ]


class CartesiaTTSServer(LocalWebSocketServer):
    """Serve Cartesia's ``/tts/websocket`` protocol on loopback; see the module docstring."""

    def __init__(
        self,
        *,
        api_key: str = "sk_car_contract",
        seconds_per_char: float = 0.05,
        chunk_ms: int = 100,
        chunk_delay: float = 0.0,
        fail_contexts: int = 0,
        error_code: str = "invalid_request",
        error_status: int = 400,
        error_title: str = "Invalid request",
        error_message: str = "The request could not be processed.",
        models: Iterable[str] | None = None,
        voices: Iterable[str] | None = None,
        fault: Literal["drop", "error", "refuse"] | None = None,
        fault_context: int = 2,
        fault_after_chunks: int = 2,
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.seconds_per_char = seconds_per_char
        self.chunk_ms = chunk_ms
        self.chunk_delay = chunk_delay
        self.fail_contexts = fail_contexts
        self.error_code = error_code
        self.error_status = error_status
        self.error_title = error_title
        self.error_message = error_message
        self.models = set(models) if models is not None else None
        self.voices = set(voices) if voices is not None else None
        self.fault = fault
        self.fault_context = fault_context
        self.fault_after_chunks = fault_after_chunks
        #: Contexts opened so far, over every connection; whether the ``fault`` happened.
        self.contexts_opened = 0
        self.faulted = False

        #: Every connection that passed the handshake, in order.
        self.connections: list[TTSConnection] = []
        #: Every handshake refused, as (status code, X-API-Key header).
        self.rejected: list[tuple[int, str | None]] = []

    @property
    def url(self) -> str:
        """What to pass as ``CartesiaTTS(url=...)``."""
        return f"ws://{self.host}:{self.port}{TTS_PATH}"

    def contexts(self) -> list[TTSContext]:
        """Every context on every connection, in the order they were opened."""
        return [c for conn in self.connections for c in conn.contexts.values()]

    def refuse(self) -> None:
        """Stop listening: new connections are refused (the vendor is down)."""
        if self._server is not None:
            self._server.close(close_connections=False)

    def _faulted_context(self, ctx: TTSContext) -> bool:
        return self.fault is not None and ctx.index == self.fault_context

    def expected_seconds(self, text: str) -> float:
        """How much audio this server makes for ``text``."""
        return len(text) * self.seconds_per_char

    # ---- handshake ----------------------------------------------------------------------------

    def _error_response(
        self, connection: ServerConnection, status: HTTPStatus, code: str, title: str, message: str
    ) -> Response:
        body = json.dumps(
            {
                "error_code": code,
                "title": title,
                "message": message,
                "request_id": str(uuid.uuid4()),
            }
        )
        response = connection.respond(status, body)
        response.headers["Content-Type"] = "application/json"
        return response

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        query = parse_qs(url.query)
        key = request.headers.get("X-API-Key") or (query.get("api_key") or [None])[0]
        version = (
            request.headers.get("Cartesia-Version") or (query.get("cartesia_version") or [None])[0]
        )
        if url.path != TTS_PATH:
            return self._error_response(
                connection, HTTPStatus.NOT_FOUND, "not_found", "Not found", f"No route {url.path}"
            )
        if key != self.api_key:
            self.rejected.append((401, key))
            return self._error_response(
                connection,
                HTTPStatus.UNAUTHORIZED,
                "unauthorized",
                "Unauthorized",
                "Invalid API key.",
            )
        if not version or not _VERSION_RE.match(version):
            self.rejected.append((400, key))
            return self._error_response(
                connection,
                HTTPStatus.BAD_REQUEST,
                "invalid_api_version",
                "Invalid API version",
                "Set the Cartesia-Version header to a dated API version, e.g. 2026-03-01.",
            )
        return None

    # ---- messages -----------------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        url = urlsplit(ws.request.path)
        conn = TTSConnection(path=url.path, query=parse_qs(url.query), headers=ws.request.headers)
        self.connections.append(conn)
        await self._notify()
        try:
            async for raw in ws:
                await self._on_message(ws, conn, raw)
        except ConnectionClosed:
            pass
        finally:
            conn.closed = True
            for ctx in conn.contexts.values():
                if ctx._task is not None:
                    ctx._task.cancel()
            await self._notify()

    async def _on_message(
        self, ws: ServerConnection, conn: TTSConnection, raw: str | bytes
    ) -> None:
        try:
            msg = json.loads(raw)
        except ValueError:
            msg = None
        if not isinstance(msg, dict):
            conn.received.append({"raw": raw})
            await self._send_error(ws, conn, None, 400, "invalid_request", "Invalid JSON", str(raw))
            return
        conn.received.append(msg)
        await self._notify()
        context_id = msg.get("context_id")
        if not isinstance(context_id, str) or not context_id:
            await self._send_error(
                ws, conn, None, 400, "invalid_request", "Invalid request", "context_id is required"
            )
            return

        ctx = conn.contexts.get(context_id)
        if msg.get("cancel"):
            if ctx is not None and not ctx.over:
                ctx.cancelled = True
                if ctx._task is not None:
                    ctx._task.cancel()
            await self._notify()
            return

        if ctx is None:
            self.contexts_opened += 1
            ctx = conn.contexts[context_id] = TTSContext(context_id, index=self.contexts_opened)
            problem = self._validate(msg)
            if problem is None and self._faulted_context(ctx) and self.fault == "refuse":
                self.faulted = True
                ctx.requests.append(msg)
                self.refuse()
                ws.transport.abort()
                return
            if problem is None and (
                self.fail_contexts > 0 or (self._faulted_context(ctx) and self.fault == "error")
            ):
                self.fail_contexts = max(0, self.fail_contexts - 1)
                self.faulted = self.faulted or self._faulted_context(ctx)
                problem = (self.error_status, self.error_code, self.error_title, self.error_message)
            if problem is not None:
                ctx.requests.append(msg)
                await self._send_error(ws, conn, ctx, *problem)
                return
            fmt = msg["output_format"]
            ctx.sample_rate = int(fmt["sample_rate"])
            ctx.encoding = fmt["encoding"]
            ctx._task = asyncio.create_task(self._generate(ws, conn, ctx))
        elif ctx.over or ctx.closed:
            ctx.late_requests.append(msg)
            return
        ctx.requests.append(msg)
        if msg.get("continue") is False:
            ctx.closed = True
        ctx._queue.put_nowait(msg)

    def _validate(self, msg: dict[str, Any]) -> tuple[int, str, str, str] | None:
        for key in ("model_id", "transcript", "voice", "output_format"):
            if key not in msg:
                return (400, "invalid_request", "Invalid request", f"{key} is required")
        if self.models is not None and msg["model_id"] not in self.models:
            return (
                400,
                "model_not_found",
                "Invalid model",
                "The model is not valid, make sure it is a valid model ID.",
            )
        voice = msg["voice"]
        if not isinstance(voice, dict) or voice.get("mode") != "id" or not voice.get("id"):
            return (400, "invalid_request", "Invalid voice", "voice must be {mode: id, id: ...}")
        if self.voices is not None and voice["id"] not in self.voices:
            return (404, "voice_not_found", "Voice not found", f"No voice {voice['id']}")
        fmt = msg["output_format"]
        if not isinstance(fmt, dict) or fmt.get("container") != "raw":
            return (400, "invalid_request", "Invalid output format", "container must be raw")
        if fmt.get("encoding") not in ENCODINGS:
            return (400, "invalid_request", "Invalid output format", "unsupported encoding")
        if fmt.get("sample_rate") not in SAMPLE_RATES:
            return (400, "invalid_request", "Invalid output format", "unsupported sample_rate")
        return None

    # ---- generation ---------------------------------------------------------------------------

    async def _generate(self, ws: ServerConnection, conn: TTSConnection, ctx: TTSContext) -> None:
        try:
            while True:
                request = await ctx._queue.get()
                text = request.get("transcript") or ""
                if text:
                    await self._speak(ws, conn, ctx, text, bool(request.get("add_timestamps")))
                if request.get("flush") or (text and request.get("max_buffer_delay_ms") == 0):
                    ctx.flushes += 1
                    await self._send(
                        ws,
                        conn,
                        {
                            "type": "flush_done",
                            "done": False,
                            "flush_done": True,
                            "flush_id": ctx.flushes,
                            "status_code": 206,
                            "context_id": ctx.context_id,
                        },
                    )
                if request.get("continue") is False:
                    ctx.done = True
                    await self._send(
                        ws,
                        conn,
                        {
                            "type": "done",
                            "done": True,
                            "status_code": 206,
                            "context_id": ctx.context_id,
                        },
                    )
                    return
        except (asyncio.CancelledError, ConnectionClosed):
            return

    def _audio(self, ctx: TTSContext, seconds: float) -> bytes:
        n = round(seconds * ctx.sample_rate)
        t = (np.arange(n) + ctx._phase) / ctx.sample_rate
        ctx._phase += n
        tone = 0.25 * np.sin(2 * np.pi * TONE_HZ * t)
        if ctx.encoding == "pcm_f32le":
            return tone.astype("<f4").tobytes()
        return (tone * 32767).astype("<i2").tobytes()

    def _word_times(self, text: str, start: float) -> list[tuple[str, float, float]]:
        """Each word's span, sharing the text's audio in proportion to its characters."""
        words = text.split()
        if not words:
            return []
        total = len(text) * self.seconds_per_char
        weights = [len(w) + 1 for w in words]
        scale = total / sum(weights)
        spans, t = [], start
        for word, weight in zip(words, weights, strict=True):
            spans.append((word, round(t, 4), round(t + weight * scale, 4)))
            t += weight * scale
        return spans

    async def _speak(
        self, ws: ServerConnection, conn: TTSConnection, ctx: TTSContext, text: str, stamps: bool
    ) -> None:
        start = ctx._elapsed
        seconds = self.expected_seconds(text)
        pending = self._word_times(text, start)
        chunk_s = self.chunk_ms / 1000
        offset = 0.0
        while offset < seconds - 1e-9:
            length = min(chunk_s, seconds - offset)
            audio = self._audio(ctx, length)
            await self._send(
                ws,
                conn,
                {
                    "type": "chunk",
                    "data": base64.b64encode(audio).decode(),
                    "done": False,
                    "status_code": 206,
                    "step_time": round(length * 1000 / 4, 3),
                    "context_id": ctx.context_id,
                },
            )
            ctx.chunks_sent += 1
            ctx.audio_bytes_sent += len(audio)
            if (
                self.fault == "drop"
                and self._faulted_context(ctx)
                and ctx.chunks_sent >= self.fault_after_chunks
            ):
                self.faulted = True
                ws.transport.abort()  # sending anything more fails; the handler ends the task
                return
            offset += length
            # The words that start within the audio sent so far.
            heard = [w for w in pending if w[1] < start + offset]
            pending = pending[len(heard) :]
            if stamps and heard:
                await self._send_timestamps(ws, conn, ctx, heard)
            if self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
        if stamps and pending:
            await self._send_timestamps(ws, conn, ctx, pending)
        ctx._elapsed = start + seconds

    async def _send_timestamps(
        self,
        ws: ServerConnection,
        conn: TTSConnection,
        ctx: TTSContext,
        words: list[tuple[str, float, float]],
    ) -> None:
        ctx.words_sent.extend(words)
        await self._send(
            ws,
            conn,
            {
                "type": "timestamps",
                "done": False,
                "status_code": 206,
                "context_id": ctx.context_id,
                "word_timestamps": {
                    "words": [w for w, _, _ in words],
                    "start": [s for _, s, _ in words],
                    "end": [e for _, _, e in words],
                },
            },
        )

    async def _send_error(
        self,
        ws: ServerConnection,
        conn: TTSConnection,
        ctx: TTSContext | None,
        status: int,
        code: str,
        title: str,
        message: str,
    ) -> None:
        error: dict[str, Any] = {
            "type": "error",
            "done": True,
            "status_code": status,
            "error_code": code,
            "title": title,
            "message": message,
            "request_id": str(uuid.uuid4()),
        }
        if ctx is not None:
            error["context_id"] = ctx.context_id
            ctx.error = error
        await self._send(ws, conn, error)

    async def _send(
        self, ws: ServerConnection, conn: TTSConnection, message: dict[str, Any]
    ) -> None:
        conn.sent.append(message)
        await ws.send(json.dumps(message))
        await self._notify()
