"""A local server speaking ElevenLabs' multi-context TTS WebSocket protocol
(``wss://api.elevenlabs.io/v1/text-to-speech/{voice_id}/multi-stream-input``).

Written from ElevenLabs' AsyncAPI reference and multi-context guide (elevenlabs-docs), not
from what one client parses:

- Handshake: ``GET /v1/text-to-speech/{voice_id}/multi-stream-input?model_id=...&output_format=
  pcm_<rate>&auto_mode=...``; the key in the ``xi-api-key`` header, or (when the header is
  absent) as ``xi_api_key`` / ``authorization`` in the first message. An unknown path is
  refused with HTTP 404. A refused key is not an HTTP error: the upgrade succeeds and the
  server closes the socket with 1008 (policy violation) and a reason, as ElevenLabs does for
  a rejected key, voice, quota or setting (reports of real sessions; the reason text is ours).
- Client to server, JSON: ``{"text": " ", "context_id": c, "voice_settings": ...}`` opens
  context ``c`` (any first text opens it); ``{"text": "...", "context_id": c}`` adds text;
  ``"flush": true`` generates what is buffered; ``{"text": "", "context_id": c}`` only keeps the
  context alive; ``{"context_id": c, "close_context": true}`` closes it: text already due
  (flushed, or sent with ``auto_mode=true``, which generates each message as it comes) is
  still spoken, the rest dropped, then ``isFinal``; ``{"close_socket": true}`` closes every
  context that way and then the socket (1000). ``voice_settings`` may only be given in a
  context's first message (changing it later: 1008 with ElevenLabs' own message); at most 5
  contexts may be open at once (a 6th: 1008).
- Server to client: ``{"audio": <base64 PCM>, "alignment": {...}, "normalizedAlignment": {...},
  "contextId": c}`` per chunk, the alignment being ``chars``, ``charStartTimesMs`` and
  ``charDurationsMs`` relative to that chunk's audio; ``{"isFinal": true, "contextId": c}``
  when a closed context is done. (An older revision of the reference spelled the durations
  ``charsDurationsMs``; the current one and Pipecat read ``charDurationsMs``.)

The audio is a 440 Hz tone, ``ms_per_char`` of it per character spoken (spaces and
punctuation too), in ``chunk_chars``-character chunks. Without ``auto_mode`` text waits for
a flush (the chunk-length schedule is not modelled), and context inactivity timeouts are not
modelled either.

The words are the characters as sent: nothing is inserted between two messages (ElevenLabs
asks for text ending in a space; Pipecat 1.14 sends sentences without one).

A fault for tests (``fault="error"``): once the ``fault_context``-th context opened (over every
connection) has sent ``fault_after_chunks`` audio chunks, the server closes the socket with
1008 and ``error_reason`` (by default the message ElevenLabs closes with on an internal
failure).
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
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

PATH_RE = re.compile(r"^/v1/text-to-speech/(?P<voice>[^/]+)/multi-stream-input$")
#: The PCM formats of the reference's ``output_format`` enum (it also has MP3, Opus, μ-law, A-law).
PCM_FORMATS = {"pcm_8000", "pcm_16000", "pcm_22050", "pcm_24000", "pcm_44100"}
POLICY_VIOLATION = 1008
MAX_CONTEXTS = 5
TONE_HZ = 440.0
INTERNAL_ERROR = "We are sorry, something went wrong. You are not charged for this request."
VOICE_SETTINGS_CHANGED = (
    "voice_settings field must be provided in the first message and then either be not "
    "provided or not change."
)


@dataclass
class TTSContext:
    """One ``context_id`` on one connection: what it was sent and what it made."""

    context_id: str
    index: int  # its number among the contexts the server opened (1 for the first)
    sample_rate: int
    messages: list[dict[str, Any]] = field(default_factory=list)
    voice_settings: dict[str, Any] | None = None
    buffer: str = ""  # text not yet due for generation
    spoken: list[str] = field(default_factory=list)  # each generation's text, in order
    chunks_sent: int = 0
    audio_bytes_sent: int = 0
    #: (word, start, end) in seconds from the context's first audio, as the alignment says.
    words_sent: list[tuple[str, float, float]] = field(default_factory=list)
    closed: bool = False  # close_context received
    final: bool = False  # isFinal sent
    _ms: int = 0  # audio made so far
    _queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue, repr=False)
    _task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def text(self) -> str:
        """Everything sent to the context, opening space included."""
        return "".join(m.get("text") or "" for m in self.messages)

    @property
    def audio_seconds(self) -> float:
        return self.audio_bytes_sent / (2 * self.sample_rate)


@dataclass
class TTSConnection:
    """One WebSocket connection and every message it carried."""

    voice_id: str
    query: dict[str, str]
    headers: Headers
    received: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    contexts: dict[str, TTSContext] = field(default_factory=dict)  # the latest per id
    history: list[TTSContext] = field(default_factory=list)  # every one, in order
    close: tuple[int, str] | None = None  # the close code and reason the server sent
    ended: bool = False

    def audio(self, context_id: str) -> bytes:
        return b"".join(
            base64.b64decode(m["audio"])
            for m in self.sent
            if m.get("contextId") == context_id and m.get("audio")
        )


class ElevenLabsTTSServer(LocalWebSocketServer):
    """Serve ElevenLabs' multi-context TTS protocol on loopback; see the module docstring."""

    def __init__(
        self,
        *,
        api_key: str = "sk_el_contract",
        ms_per_char: int = 50,
        chunk_chars: int = 8,
        chunk_delay: float = 0.0,
        models: set[str] | None = None,
        voices: set[str] | None = None,
        fault: Literal["error"] | None = None,
        fault_context: int = 1,
        fault_after_chunks: int = 0,
        error_reason: str = INTERNAL_ERROR,
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.ms_per_char = ms_per_char
        self.chunk_chars = chunk_chars
        self.chunk_delay = chunk_delay
        self.models, self.voices = models, voices
        self.fault, self.fault_context = fault, fault_context
        self.fault_after_chunks = fault_after_chunks
        self.error_reason = error_reason
        self.contexts_opened = 0
        self.faulted = False
        #: Every connection that passed the handshake, in order.
        self.connections: list[TTSConnection] = []
        #: Every refused key, as (close code, the key given).
        self.rejected: list[tuple[int, str | None]] = []

    def url(self, voice_id: str = "") -> str:
        """The base URL (``ElevenLabsTTS(url=...)``), or the endpoint for ``voice_id``."""
        base = f"ws://{self.host}:{self.port}"
        return f"{base}/v1/text-to-speech/{voice_id}/multi-stream-input" if voice_id else base

    def contexts(self) -> list[TTSContext]:
        """Every context on every connection, in the order they were opened."""
        return sorted((c for conn in self.connections for c in conn.history), key=lambda c: c.index)

    def expected_seconds(self, text: str) -> float:
        """How much audio this server makes for ``text``."""
        return len(text) * self.ms_per_char / 1000

    # ---- handshake ----------------------------------------------------------------------------

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        problem = None
        if not PATH_RE.match(url.path):
            problem = (HTTPStatus.NOT_FOUND, "not_found", f"No route {url.path}")
        elif query.get("output_format") not in PCM_FORMATS:  # ElevenLabs' default is MP3
            problem = (HTTPStatus.BAD_REQUEST, "invalid_output_format", "this server makes PCM")
        if problem is None:
            return None
        status, code, message = problem
        body = json.dumps({"detail": {"status": code, "message": message}})
        response = connection.respond(status, body)
        response.headers["Content-Type"] = "application/json"
        return response

    # ---- messages -----------------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        url = urlsplit(ws.request.path)
        match = PATH_RE.match(url.path)
        assert match is not None
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        conn = TTSConnection(match["voice"], query, ws.request.headers)
        self.connections.append(conn)
        await self._notify()
        key = ws.request.headers.get("xi-api-key") or query.get("authorization")
        try:
            if key is not None and not await self._authorized(ws, conn, key):
                return
            problem = self._refused_settings(conn)
            if problem is not None:
                await self._close(ws, conn, POLICY_VIOLATION, problem)
                return
            async for raw in ws:
                msg = json.loads(raw)
                conn.received.append(msg)
                await self._notify()
                if key is None:  # the first message must carry it
                    key = msg.get("xi_api_key") or msg.get("authorization") or ""
                    if not await self._authorized(ws, conn, key):
                        return
                if not await self._on_message(ws, conn, msg):
                    return
        except ConnectionClosed:
            pass
        finally:
            conn.ended = True
            for ctx in conn.history:
                if ctx._task is not None:
                    ctx._task.cancel()
            await self._notify()

    async def _authorized(self, ws: ServerConnection, conn: TTSConnection, key: str) -> bool:
        if key.removeprefix("Bearer ") == self.api_key:
            return True
        self.rejected.append((POLICY_VIOLATION, key or None))
        await self._close(ws, conn, POLICY_VIOLATION, "Invalid API key")
        return False

    def _refused_settings(self, conn: TTSConnection) -> str | None:
        model = conn.query.get("model_id", "")
        if self.models is not None and model not in self.models:
            return f"Model {model!r} not found"
        if self.voices is not None and conn.voice_id not in self.voices:
            return f"A voice with the voice_id {conn.voice_id} was not found."
        return None

    async def _on_message(self, ws: ServerConnection, conn: TTSConnection, msg: dict) -> bool:
        """Apply one client message; False once the socket is being closed."""
        if msg.get("close_socket"):
            for ctx in conn.contexts.values():
                self._close_context(ctx, flush=bool(msg.get("flush")))
            await asyncio.gather(*(c._task for c in conn.history if c._task))
            await self._close(ws, conn, 1000, "")
            return False
        context_id = str(msg.get("context_id") or "")
        text = msg.get("text") or ""
        ctx = conn.contexts.get(context_id)
        if ctx is None or ctx.closed:  # a closed id may be reused: a new context
            if not text:
                return True  # a keepalive opens nothing
            if sum(not c.final for c in conn.history) >= MAX_CONTEXTS:
                reason = f"Maximum of {MAX_CONTEXTS} concurrent contexts exceeded"
                await self._close(ws, conn, POLICY_VIOLATION, reason)
                return False
            self.contexts_opened += 1
            rate = int(conn.query["output_format"].removeprefix("pcm_"))
            ctx = TTSContext(context_id, self.contexts_opened, rate)
            ctx.voice_settings = msg.get("voice_settings")
            conn.contexts[context_id] = ctx
            conn.history.append(ctx)
            ctx._task = asyncio.create_task(self._generate(ws, conn, ctx))
        elif msg.get("voice_settings") not in (None, ctx.voice_settings):
            await self._close(ws, conn, POLICY_VIOLATION, VOICE_SETTINGS_CHANGED)
            return False
        ctx.messages.append(msg)
        ctx.buffer += text
        if msg.get("flush") or (conn.query.get("auto_mode") == "true" and text.strip()):
            self._due(ctx)
        if msg.get("close_context"):
            self._close_context(ctx, flush=bool(msg.get("flush")))
        await self._notify()
        return True

    def _due(self, ctx: TTSContext) -> None:
        """The buffered text is to be spoken (a whitespace-only buffer is left to grow)."""
        if ctx.buffer.strip():
            ctx._queue.put_nowait(ctx.buffer)
            ctx.buffer = ""

    def _close_context(self, ctx: TTSContext, *, flush: bool) -> None:
        if ctx.closed:
            return
        if flush:
            self._due(ctx)
        ctx.closed, ctx.buffer = True, ""
        ctx._queue.put_nowait(None)  # isFinal once what is due has been spoken

    # ---- generation ---------------------------------------------------------------------------

    async def _generate(self, ws: ServerConnection, conn: TTSConnection, ctx: TTSContext) -> None:
        try:
            while (text := await ctx._queue.get()) is not None:
                ctx.spoken.append(text)
                await self._speak(ws, conn, ctx, text)
            ctx.final = True
            await self._send(ws, conn, {"isFinal": True, "contextId": ctx.context_id})
        except (asyncio.CancelledError, ConnectionClosed):
            return

    def _audio(self, ctx: TTSContext, start_ms: int, end_ms: int) -> bytes:
        """The tone from ``start_ms`` to ``end_ms`` of the context, continuous across chunks."""
        first, last = (round(ms * ctx.sample_rate / 1000) for ms in (start_ms, end_ms))
        t = np.arange(first, last) / ctx.sample_rate
        return (0.25 * np.sin(2 * np.pi * TONE_HZ * t) * 32767).astype("<i2").tobytes()

    async def _speak(
        self, ws: ServerConnection, conn: TTSConnection, ctx: TTSContext, text: str
    ) -> None:
        step = self.ms_per_char
        for begin in range(0, len(text), self.chunk_chars):
            chars = list(text[begin : begin + self.chunk_chars])
            start = ctx._ms
            ctx._ms += step * len(chars)
            audio = self._audio(ctx, start, ctx._ms)
            alignment = {
                "chars": chars,
                "charStartTimesMs": [i * step for i in range(len(chars))],
                "charDurationsMs": [step] * len(chars),
            }
            message = {
                "audio": base64.b64encode(audio).decode(),
                "alignment": alignment,
                "normalizedAlignment": alignment,
                "contextId": ctx.context_id,
            }
            if self._faulted(ctx) and ctx.chunks_sent >= self.fault_after_chunks:
                self.faulted = True
                await self._close(ws, conn, POLICY_VIOLATION, self.error_reason)
                return
            await self._send(ws, conn, message)
            ctx.chunks_sent += 1
            ctx.audio_bytes_sent += len(audio)
            self._record_words(ctx, text, begin, start)
            if self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)

    def _faulted(self, ctx: TTSContext) -> bool:
        return self.fault is not None and ctx.index == self.fault_context

    def _record_words(self, ctx: TTSContext, text: str, begin: int, start_ms: int) -> None:
        """Note the words that start in this chunk, with their spans from the alignment."""
        base = start_ms - begin * self.ms_per_char  # where ``text`` started
        for m in re.finditer(r"\S+", text):
            if begin <= m.start() < begin + self.chunk_chars:
                s, e = base + m.start() * self.ms_per_char, base + m.end() * self.ms_per_char
                ctx.words_sent.append((m.group(), s / 1000, e / 1000))

    # ---- sending ------------------------------------------------------------------------------

    async def _send(self, ws: ServerConnection, conn: TTSConnection, message: dict) -> None:
        conn.sent.append(message)
        await ws.send(json.dumps(message))
        await self._notify()

    async def _close(
        self, ws: ServerConnection, conn: TTSConnection, code: int, reason: str
    ) -> None:
        conn.close = (code, reason)
        await self._notify()
        await ws.close(code, reason)
