"""A local server speaking Deepgram's live transcription protocol (``wss://api.deepgram.com/v1/listen``).

It follows the public protocol, not just what one client happens to parse:

- Handshake: ``GET /v1/listen?<options>`` with ``Authorization: Token <key>`` (``Bearer <jwt>``
  is accepted too, as Deepgram does for temporary tokens). A bad or missing key is refused with
  HTTP 401 and Deepgram's JSON error body, an unknown path with 404, and unusable audio options
  (an unsupported ``encoding``, ``encoding`` without ``sample_rate``) with 400.
- Client to server: binary frames of raw audio; text frames holding the control messages
  ``{"type": "Finalize"}``, ``{"type": "KeepAlive"}`` and ``{"type": "CloseStream"}``. An empty
  binary frame is the legacy way to close the stream and is treated like ``CloseStream``.
- Server to client: ``Results`` messages. While audio arrives and ``interim_results=true`` was
  asked for, interim results (``is_final: false``) carry a growing prefix of the utterance's
  transcript. ``Finalize`` flushes the audio buffered since the last final result into a final
  result (``is_final: true, from_finalize: true``); with nothing buffered the final result is
  empty. ``CloseStream`` flushes the same way (``from_finalize: false``), then sends the summary
  ``Metadata`` message and closes the socket normally (1000).

Transcripts are scripted: each utterance (audio between two final results) takes the next
text from :attr:`DeepgramLiveServer.transcripts`, or ``""`` once they run out, as Deepgram
returns for silence.

Failure modes for tests: ``reject_auth`` refuses every key with 401 (a revoked key), and
``drop_after_ms`` aborts the TCP connection, with no close frame, once that much audio has
arrived on each of the first ``drop_connections`` connections (``0``: right after the
handshake, before any audio).

Faults on one utterance, for the fault-injection suite (``fault=``): the
``fault_utterance``-th utterance with speech in it (counted over every connection; a chunk
is speech when its RMS passes ``speech_rms``) meets, once ``fault_after_ms`` of its speech
has arrived, ``"drop"`` (the connection aborted), ``"error"`` (an ``Error`` message shaped
like the SDK's ``ListenV1Error``, then a 1011 close), ``"refuse"`` (the connection aborted
and the server stops listening: reconnects are refused) or, from its first speech,
``"silence"`` (no results for it at all, its finalize unanswered; later utterances are
answered again). ``transcribe`` replaces the script: it gets the audio messages of the
utterance being finalized and returns its transcript.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import numpy as np
from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from tests.contract.servers.ws_server import LocalWebSocketServer

LISTEN_PATH = "/v1/listen"

#: Bytes per sample of each ``encoding`` Deepgram accepts for raw audio that this server knows.
BYTES_PER_SAMPLE = {"linear16": 2, "linear32": 4, "mulaw": 1, "alaw": 1}


@dataclass
class ListenSession:
    """Everything one ``/v1/listen`` connection sent and was sent."""

    request_id: str
    path: str
    query: dict[str, list[str]]
    headers: Headers
    audio_bytes: int = 0
    audio_frames: int = 0
    #: Every text message received, parsed.
    control: list[dict[str, Any]] = field(default_factory=list)
    #: Every JSON message sent.
    sent: list[dict[str, Any]] = field(default_factory=list)
    #: "client" when the client closed, "server" after CloseStream, "dropped" when aborted,
    #: "error" after the scripted error message.
    ended_by: str | None = None
    closed: bool = False
    _audio_hash: Any = field(default_factory=hashlib.sha256, repr=False)

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    @property
    def authorization(self) -> str | None:
        return self.headers.get("Authorization")

    def control_types(self) -> list[str]:
        return [str(m.get("type")) for m in self.control]

    def results(self, *, final: bool | None = None) -> list[dict[str, Any]]:
        return [
            m
            for m in self.sent
            if m.get("type") == "Results" and (final is None or m.get("is_final") is final)
        ]


class DeepgramLiveServer(LocalWebSocketServer):
    """Serve Deepgram's live ``/v1/listen`` protocol on loopback; see the module docstring."""

    def __init__(
        self,
        *,
        api_key: str = "dg-contract-key",
        transcripts: Iterable[str] = (),
        interim_every_ms: int = 100,
        auto_final_after_ms: int | None = None,
        reject_auth: bool = False,
        drop_after_ms: int | None = None,
        drop_connections: int = 1,
        model_version: str = "2024-01-26.8851",
        transcribe: Callable[[list[bytes]], str] | None = None,
        fault: Literal["drop", "error", "refuse", "silence"] | None = None,
        fault_utterance: int = 2,
        fault_after_ms: int = 300,
        speech_rms: float = 300.0,
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.transcripts: deque[str] = deque(transcripts)
        self.interim_every_ms = interim_every_ms
        self.auto_final_after_ms = auto_final_after_ms
        self.reject_auth = reject_auth
        self.drop_after_ms = drop_after_ms
        self.drop_connections = drop_connections
        self.model_version = model_version
        self.transcribe = transcribe
        self.fault = fault
        self.fault_utterance = fault_utterance
        self.fault_after_ms = fault_after_ms
        self.speech_rms = speech_rms
        #: Utterances with speech heard so far, over every connection.
        self.spoken_utterances = 0
        #: Whether the scripted ``fault`` has happened.
        self.faulted = False

        #: Every connection that passed the handshake, in order.
        self.sessions: list[ListenSession] = []
        #: Every handshake refused, as (status code, Authorization header).
        self.rejected: list[tuple[int, str | None]] = []
        self.dropped = 0

    @property
    def base_url(self) -> str:
        """What to pass as ``DeepgramSTT(base_url=...)``."""
        return f"ws://{self.host}:{self.port}"

    def script(self, *transcripts: str) -> None:
        """Queue the transcripts the next utterances are recognised as."""
        self.transcripts.extend(transcripts)

    def refuse(self) -> None:
        """Stop listening: new connections are refused (the vendor is down)."""
        if self._server is not None:
            self._server.close(close_connections=False)

    # ---- handshake ----------------------------------------------------------------------------

    def _error_response(
        self, connection: ServerConnection, status: HTTPStatus, code: str, message: str
    ) -> Response:
        request_id = str(uuid.uuid4())
        body = json.dumps({"err_code": code, "err_msg": message, "request_id": request_id})
        response = connection.respond(status, body)
        response.headers["Content-Type"] = "application/json"
        response.headers["dg-request-id"] = request_id
        response.headers["dg-error"] = message
        return response

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        auth = request.headers.get("Authorization")
        if url.path != LISTEN_PATH:
            return self._error_response(
                connection, HTTPStatus.NOT_FOUND, "NOT_FOUND", f"No such endpoint: {url.path}"
            )
        scheme, _, credential = (auth or "").partition(" ")
        if (
            self.reject_auth
            or scheme.lower() not in ("token", "bearer")
            or credential != self.api_key
        ):
            self.rejected.append((401, auth))
            return self._error_response(
                connection,
                HTTPStatus.UNAUTHORIZED,
                "INVALID_AUTH",
                "Invalid credentials.",
            )
        query = parse_qs(url.query, keep_blank_values=True)
        encoding = (query.get("encoding") or [None])[0]
        if encoding is not None:
            if encoding not in BYTES_PER_SAMPLE:
                self.rejected.append((400, auth))
                return self._error_response(
                    connection,
                    HTTPStatus.BAD_REQUEST,
                    "Bad Request",
                    f"Unsupported encoding: {encoding}",
                )
            if not query.get("sample_rate"):
                self.rejected.append((400, auth))
                return self._error_response(
                    connection,
                    HTTPStatus.BAD_REQUEST,
                    "Bad Request",
                    "sample_rate is required when encoding is set",
                )
        return None

    # ---- the stream ---------------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        url = urlsplit(ws.request.path)
        session = ListenSession(
            request_id=str(uuid.uuid4()),
            path=url.path,
            query=parse_qs(url.query, keep_blank_values=True),
            headers=ws.request.headers,
        )
        self.sessions.append(session)
        await self._notify()
        stream = _Stream(self, ws, session, drop=len(self.sessions) <= self.drop_connections)
        try:
            await stream.run()
        except ConnectionClosed:
            session.ended_by = session.ended_by or "client"
        finally:
            session.closed = True
            await self._notify()


class _Stream:
    """The state of one connection: where the audio is, and the utterance in progress."""

    def __init__(
        self, server: DeepgramLiveServer, ws: ServerConnection, session: ListenSession, drop: bool
    ) -> None:
        self.server = server
        self.ws = ws
        self.session = session
        self.drop = drop and server.drop_after_ms is not None
        rate = int(session.param("sample_rate") or 16000)
        channels = int(session.param("channels") or 1)
        width = BYTES_PER_SAMPLE.get(session.param("encoding") or "linear16", 2)
        self.bytes_per_second = rate * channels * width
        self.interim = (session.param("interim_results") or "false").lower() == "true"
        self.channels = channels
        # Seconds of audio: finalized so far (the next utterance's start), and all of it.
        self.final_cursor = 0.0
        self.utterance_bytes = 0
        self.interims_sent = 0
        # The utterance in flight: its audio messages (for ``transcribe``), its speech, its
        # number among the server's spoken utterances, and whether it goes unanswered.
        self.utterance_chunks: list[bytes] = []
        self.speech_ms = 0.0
        self.utterance_index: int | None = None
        self.silent = False

    def seconds(self, nbytes: int) -> float:
        return nbytes / self.bytes_per_second

    async def run(self) -> None:
        if self.drop and self.server.drop_after_ms == 0:
            await self.abort()
            return
        async for message in self.ws:
            if isinstance(message, bytes):
                if not message:  # legacy close-stream signal
                    await self.close_stream()
                    return
                await self.on_audio(message)
                if self.session.ended_by in ("dropped", "error"):
                    return
            else:
                try:
                    control = json.loads(message)
                except json.JSONDecodeError:
                    control = {"type": None, "raw": message}
                self.session.control.append(control)
                await self.server._notify()
                kind = control.get("type")
                if kind == "Finalize":
                    await self.finalize(from_finalize=True)
                elif kind == "CloseStream":
                    await self.close_stream()
                    return
                # KeepAlive only keeps the connection open: Deepgram does not answer it.

    async def on_audio(self, chunk: bytes) -> None:
        session = self.session
        session.audio_bytes += len(chunk)
        session.audio_frames += 1
        session._audio_hash.update(chunk)
        self.utterance_bytes += len(chunk)
        await self.server._notify()

        if self.drop and self.seconds(session.audio_bytes) * 1000 >= self.server.drop_after_ms:
            await self.abort()
            return
        if self.server.transcribe is not None:
            self.utterance_chunks.append(chunk)
        if await self.fault_hits(chunk):
            return

        utterance_ms = self.seconds(self.utterance_bytes) * 1000
        if self.interim and self.server.interim_every_ms and not self.silent:
            due = int(utterance_ms // self.server.interim_every_ms)
            if due > self.interims_sent:
                self.interims_sent = due
                await self.send_results(self.interim_transcript(utterance_ms), is_final=False)
        auto = self.server.auto_final_after_ms
        if auto is not None and utterance_ms >= auto:
            # Endpointing: Deepgram finalizes on its own and marks the end of speech.
            await self.finalize(from_finalize=False, speech_final=True)

    async def fault_hits(self, chunk: bytes) -> bool:
        """Count the speech in ``chunk``; True when the scripted fault ended this stream."""
        server = self.server
        if server.fault is None:
            return False
        samples = np.frombuffer(chunk[: len(chunk) - len(chunk) % 2], dtype="<i2")  # linear16
        if samples.size and float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) >= (
            server.speech_rms
        ):
            if self.utterance_index is None:
                server.spoken_utterances += 1
                self.utterance_index = server.spoken_utterances
            self.speech_ms += self.seconds(len(chunk)) * 1000
        if server.faulted or self.utterance_index != server.fault_utterance:
            return False
        if server.fault == "silence":
            self.silent = True
            return False
        if self.speech_ms < server.fault_after_ms:
            return False
        server.faulted = True
        if server.fault == "refuse":
            server.refuse()
        if server.fault == "error":
            await self.send(
                {
                    "type": "Error",
                    "variant": "InternalServerError",
                    "description": "The service encountered an internal error.",
                    "code": "NET-0001",
                }
            )
            self.session.ended_by = "error"
            await self.ws.close(1011, "NET-0001")
        else:
            await self.abort()
        return True

    async def abort(self) -> None:
        """Drop the connection with no close frame, as when the network goes away."""
        self.session.ended_by = "dropped"
        self.server.dropped += 1
        self.ws.transport.abort()
        await self.server._notify()

    def interim_transcript(self, utterance_ms: float) -> str:
        upcoming = self.server.transcripts[0] if self.server.transcripts else ""
        words = upcoming.split()
        # One more word heard per interim, never more than the final transcript holds.
        shown = min(len(words), max(1, int(utterance_ms // max(self.server.interim_every_ms, 1))))
        return " ".join(words[:shown])

    async def finalize(self, *, from_finalize: bool, speech_final: bool = False) -> None:
        if not self.utterance_bytes:
            transcript = ""
        elif self.server.transcribe is not None:
            transcript = self.server.transcribe(self.utterance_chunks)
        else:
            transcript = self.server.transcripts.popleft() if self.server.transcripts else ""
        if self.silent:  # the scripted silence: this utterance is never answered
            self.server.faulted = True
        else:
            await self.send_results(
                transcript, is_final=True, from_finalize=from_finalize, speech_final=speech_final
            )
        self.final_cursor += self.seconds(self.utterance_bytes)
        self.utterance_bytes = 0
        self.interims_sent = 0
        self.utterance_chunks = []
        self.speech_ms = 0.0
        self.utterance_index = None
        self.silent = False

    async def close_stream(self) -> None:
        if self.utterance_bytes:
            await self.finalize(from_finalize=False, speech_final=True)
        total = self.seconds(self.session.audio_bytes)
        await self.send(
            {
                "type": "Metadata",
                "transaction_key": "deprecated",
                "request_id": self.session.request_id,
                "sha256": self.session._audio_hash.hexdigest(),
                "created": datetime.now(UTC)
                .isoformat(timespec="milliseconds")
                .replace("+00:00", "Z"),
                "duration": round(total, 3),
                "channels": self.channels,
            }
        )
        self.session.ended_by = "server"
        await self.ws.close(1000)

    async def send_results(
        self,
        transcript: str,
        *,
        is_final: bool,
        from_finalize: bool = False,
        speech_final: bool = False,
    ) -> None:
        start = self.final_cursor
        duration = self.seconds(self.utterance_bytes)
        words = transcript.split()
        step = duration / len(words) if words else 0.0
        message: dict[str, Any] = {
            "type": "Results",
            "channel_index": [0, self.channels],
            "duration": round(duration, 3),
            "start": round(start, 3),
            "is_final": is_final,
            "speech_final": speech_final and is_final,
            "channel": {
                "alternatives": [
                    {
                        "transcript": transcript,
                        "confidence": 0.99 if words else 0.0,
                        "words": [
                            {
                                "word": w.strip(".,?!").lower(),
                                "start": round(start + i * step, 3),
                                "end": round(start + (i + 1) * step, 3),
                                "confidence": 0.99,
                                "punctuated_word": w,
                            }
                            for i, w in enumerate(words)
                        ],
                    }
                ]
            },
            "metadata": {
                "request_id": self.session.request_id,
                "model_info": {
                    "name": self.session.param("model") or "general",
                    "version": self.server.model_version,
                    "arch": (self.session.param("model") or "nova-3").split("-general")[0],
                },
                "model_uuid": str(
                    uuid.uuid5(uuid.NAMESPACE_URL, self.session.param("model") or "")
                ),
            },
        }
        if is_final:
            message["from_finalize"] = from_finalize
        await self.send(message)

    async def send(self, message: dict[str, Any]) -> None:
        self.session.sent.append(message)
        await self.ws.send(json.dumps(message))
        await self.server._notify()
