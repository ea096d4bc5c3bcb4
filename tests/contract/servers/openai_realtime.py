"""A local server speaking OpenAI's Realtime WebSocket protocol (GA event names).

Written from OpenAI's Realtime API reference (client and server events) and the behaviour
reported for real sessions, checked against what Pipecat 1.14's client sends and parses:

- Handshake: ``GET /v1/realtime?model=...`` with ``Authorization: Bearer <key>``. A wrong
  key is not an HTTP error: the upgrade succeeds, the server sends an ``error`` event
  (``invalid_request_error`` / ``invalid_api_key``) and closes with code 3000 and reason
  ``invalid_request_error.invalid_api_key`` (as reported from real sessions).
- The server opens with ``session.created``; each ``session.update`` is answered with
  ``session.updated`` (the merged session).
- ``input_audio_buffer.append``: base64 PCM16 mono at 24 kHz. With server VAD (the default,
  or ``semantic_vad``, modelled the same way) an energy detector finds speech: after
  ``START_MS`` of sound ``input_audio_buffer.speech_started``; after the session's
  ``silence_duration_ms`` of quiet ``speech_stopped``, ``committed``, the user item
  (``conversation.item.added``), the transcript
  (``conversation.item.input_audio_transcription.completed``, when transcription is on),
  then a response. Speech starting while a response is generating cancels it
  (``response.done`` with status ``cancelled``), unless the session's turn detection has
  ``interrupt_response: false``. With ``turn_detection: null`` the client commits and asks
  for responses itself.
- A response: ``response.created``, the assistant item, then per word a transcript delta
  (``response.output_audio_transcript.delta``) and its audio (``response.output_audio.delta``:
  a 440 Hz tone, ``ms_per_char`` per character, space included), the ``.done`` events and
  ``response.done`` (usage included). A scripted tool call is a ``function_call`` item whose
  arguments end with ``response.function_call_arguments.done``; the reply waits for the
  client's ``function_call_output`` item and ``response.create``.
- ``response.create`` while one is active: ``error`` ``conversation_already_has_active_response``;
  ``response.cancel`` with none active: ``error`` ``response_cancel_not_active``;
  ``conversation.item.truncate`` is recorded and answered with ``conversation.item.truncated``.
- Faults for tests: ``fault_on_turn=n``: when the caller's n-th turn ends, an ``error``
  event (``server_error``) instead of a response; the socket stays open.
  ``drop_on_request="<client event type>"``: the first such event the client sends is not
  answered: the server closes the socket (``drop_code``), with no ``error`` event.
- ``hold``: ``{words: asyncio.Event}``: a response that would speak ``words`` waits for
  the event after ``response.created`` (a model taking its time), so a test can place
  its speech after something the bot does.

Replies: ``replies[i]`` answers the caller's i-th turn (a ``str``, or a ``ToolReply``); a
response asked for with no new caller turn speaks the quoted text of the last instruction
(the greeting), else ``"Okay."``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from tests.contract.servers.ws_server import LocalWebSocketServer

RATE = 24000
FRAME_MS = 20
START_MS = 60  # sound before speech_started
THRESHOLD = 0.02  # RMS (full scale 1.0) above which a 20 ms frame is sound
TONE_HZ = 440.0
INVALID_KEY_CLOSE = (3000, "invalid_request_error.invalid_api_key")
SERVER_ERROR = "The server had an error while processing your request. Sorry about that!"


@dataclass
class ToolReply:
    """A turn the model answers with a tool call, then (after its output) ``then``."""

    name: str
    arguments: dict[str, Any]
    then: str


@dataclass
class RealtimeConnection:
    """One WebSocket connection: what it carried and what it made."""

    query: dict[str, str]
    authorization: str | None
    received: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    session: dict[str, Any] = field(default_factory=dict)
    close: tuple[int, str] | None = None
    turns: int = 0  # caller turns committed
    audio_ms: float = 0.0  # input audio received
    ended: bool = False

    def received_of(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.received if m.get("type") == kind]

    def sent_of(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.sent if m.get("type") == kind]

    def audio(self, response_id: str | None = None) -> bytes:
        return b"".join(
            base64.b64decode(m["delta"])
            for m in self.sent_of("response.output_audio.delta")
            if response_id is None or m["response_id"] == response_id
        )


class OpenAIRealtimeServer(LocalWebSocketServer):
    """Serve OpenAI's Realtime protocol on loopback; see the module docstring."""

    def __init__(
        self,
        *,
        api_key: str = "sk-realtime-contract",
        replies: list[str | ToolReply] | None = None,
        transcripts: list[str] | None = None,
        ms_per_char: int = 40,
        chunk_delay: float = 0.0,
        fault_on_turn: int | None = None,
        drop_on_request: str | None = None,
        drop_code: int = 1011,
        hold: dict[str, asyncio.Event] | None = None,
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.replies = list(replies or [])
        self.transcripts = list(transcripts or [])
        self.ms_per_char = ms_per_char
        self.chunk_delay = chunk_delay
        self.fault_on_turn = fault_on_turn
        self.drop_on_request = drop_on_request
        self.drop_code = drop_code
        self.hold = dict(hold or {})
        self.connections: list[RealtimeConnection] = []
        self.rejected: list[str | None] = []  # the keys refused
        self._ids = itertools.count(1)

    def url(self) -> str:
        return f"ws://{self.host}:{self.port}/v1/realtime"

    def expected_ms(self, text: str) -> int:
        """How much audio this server makes for ``text`` (spoken word by word, spaced)."""
        return len(" ".join(text.split())) * self.ms_per_char

    def _id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):04d}"

    # ---- the connection -----------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        query = {k: v[-1] for k, v in parse_qs(urlsplit(ws.request.path).query).items()}
        conn = RealtimeConnection(query, ws.request.headers.get("Authorization"))
        self.connections.append(conn)
        state = _ConnectionState()
        try:
            key = (conn.authorization or "").removeprefix("Bearer ")
            if key != self.api_key:
                self.rejected.append(key or None)
                await self._send(
                    ws,
                    conn,
                    _error(
                        "invalid_request_error",
                        "invalid_api_key",
                        f"Incorrect API key provided: {key[:3]}***.",
                    ),
                )
                await self._close(ws, conn, *INVALID_KEY_CLOSE)
                return
            conn.session = {
                "type": "realtime",
                "object": "realtime.session",
                "id": self._id("sess"),
                "model": query.get("model"),
                "audio": {"input": {"turn_detection": {"type": "server_vad"}}},
            }
            await self._send(ws, conn, {"type": "session.created", "session": conn.session})
            async for raw in ws:
                message = json.loads(raw)
                conn.received.append(message)
                await self._on_message(ws, conn, state, message)
                await self._notify()
        except ConnectionClosed:
            pass
        finally:
            conn.ended = True
            if state.response is not None:
                state.response.cancel()
            await self._notify()

    async def _on_message(
        self, ws: ServerConnection, conn: RealtimeConnection, state: _ConnectionState, msg: dict
    ) -> None:
        kind = msg.get("type")
        if kind is not None and kind == self.drop_on_request:
            await self._close(ws, conn, self.drop_code, "")
        elif kind == "session.update":
            _merge(conn.session, msg.get("session") or {})
            await self._send(ws, conn, {"type": "session.updated", "session": conn.session})
        elif kind == "input_audio_buffer.append":
            await self._on_audio(ws, conn, state, base64.b64decode(msg["audio"]))
        elif kind == "input_audio_buffer.commit":
            await self._end_caller_turn(ws, conn, state)
        elif kind == "input_audio_buffer.clear":
            state.reset_vad()
            await self._send(ws, conn, {"type": "input_audio_buffer.cleared"})
        elif kind == "conversation.item.create":
            item = dict(msg["item"], id=msg["item"].get("id") or self._id("item"))
            state.items.append(item)
            await self._send(ws, conn, {"type": "conversation.item.added", "item": item})
            await self._send(ws, conn, {"type": "conversation.item.done", "item": item})
        elif kind == "conversation.item.truncate":
            truncated = {k: msg[k] for k in ("item_id", "content_index", "audio_end_ms")}
            await self._send(ws, conn, {"type": "conversation.item.truncated", **truncated})
        elif kind == "response.create":
            if state.response is not None and not state.response.done():
                await self._send(
                    ws,
                    conn,
                    _error(
                        "invalid_request_error",
                        "conversation_already_has_active_response",
                        "Conversation already has an active response in progress.",
                    ),
                )
                return
            self._respond(ws, conn, state, self._requested_reply(state))
        elif kind == "response.cancel":
            if state.response is None or state.response.done():
                await self._send(
                    ws,
                    conn,
                    _error(
                        "invalid_request_error",
                        "response_cancel_not_active",
                        "Cancellation failed: no active response found",
                    ),
                )
                return
            state.response.cancel()

    # ---- the caller's audio -------------------------------------------------------------------

    def _turn_detection(self, conn: RealtimeConnection) -> dict[str, Any] | None:
        audio_in = (conn.session.get("audio") or {}).get("input") or {}
        return audio_in.get("turn_detection")

    async def _on_audio(
        self, ws: ServerConnection, conn: RealtimeConnection, state: _ConnectionState, pcm: bytes
    ) -> None:
        state.pending += pcm
        detection = self._turn_detection(conn)
        frame_bytes = RATE * FRAME_MS // 1000 * 2
        while len(state.pending) >= frame_bytes:
            frame, state.pending = state.pending[:frame_bytes], state.pending[frame_bytes:]
            conn.audio_ms += FRAME_MS
            if detection is None:
                continue  # the client rules turns (input_audio_buffer.commit)
            samples = np.frombuffer(frame, dtype="<i2").astype(np.float64) / 32768
            loud = float(np.sqrt(np.mean(samples**2))) > THRESHOLD
            silence_ms = int(detection.get("silence_duration_ms") or 500)
            if loud:
                state.loud_ms += FRAME_MS
                state.quiet_ms = 0
                if not state.speaking and state.loud_ms >= START_MS:
                    state.speaking = True
                    state.item_id = self._id("item")
                    start = int(conn.audio_ms - state.loud_ms)
                    interrupts = detection.get("interrupt_response", True) is not False
                    if interrupts and state.response is not None and not state.response.done():
                        state.response.cancel()  # interrupt_response
                    await self._send(
                        ws,
                        conn,
                        {
                            "type": "input_audio_buffer.speech_started",
                            "audio_start_ms": start,
                            "item_id": state.item_id,
                        },
                    )
            else:
                state.quiet_ms += FRAME_MS
                if not state.speaking:
                    state.loud_ms = 0
                elif state.quiet_ms >= silence_ms:
                    await self._send(
                        ws,
                        conn,
                        {
                            "type": "input_audio_buffer.speech_stopped",
                            "audio_end_ms": int(conn.audio_ms - state.quiet_ms),
                            "item_id": state.item_id,
                        },
                    )
                    await self._end_caller_turn(ws, conn, state)

    async def _end_caller_turn(
        self, ws: ServerConnection, conn: RealtimeConnection, state: _ConnectionState
    ) -> None:
        item_id = state.item_id or self._id("item")
        state.reset_vad()
        previous = state.items[-1]["id"] if state.items else None
        item = {
            "id": item_id,
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        state.items.append(item)
        turn = conn.turns
        conn.turns += 1
        state.unanswered = turn
        await self._send(
            ws,
            conn,
            {
                "type": "input_audio_buffer.committed",
                "previous_item_id": previous,
                "item_id": item_id,
            },
        )
        await self._send(
            ws,
            conn,
            {"type": "conversation.item.added", "previous_item_id": previous, "item": item},
        )
        audio_in = (conn.session.get("audio") or {}).get("input") or {}
        if audio_in.get("transcription"):
            words = self.transcripts[turn] if turn < len(self.transcripts) else ""
            await self._send(
                ws,
                conn,
                {
                    "type": "conversation.item.input_audio_transcription.completed",
                    "item_id": item_id,
                    "content_index": 0,
                    "transcript": words,
                },
            )
        if self.fault_on_turn == conn.turns:
            await self._send(ws, conn, _error("server_error", "server_error", SERVER_ERROR))
            return
        detection = self._turn_detection(conn)
        if detection is not None and detection.get("create_response", True):
            self._respond(ws, conn, state, self._reply_to_turn(state))

    # ---- responses ----------------------------------------------------------------------------

    def _reply_to_turn(self, state: _ConnectionState) -> str | ToolReply:
        turn, state.unanswered = state.unanswered, None
        if turn is None or turn >= len(self.replies):
            return "Okay."
        return self.replies[turn]

    def _requested_reply(self, state: _ConnectionState) -> str | ToolReply:
        last = state.items[-1] if state.items else {}
        if last.get("type") == "function_call_output":
            return state.after_tool.pop(last.get("call_id"), "Okay.")
        if state.unanswered is not None:
            return self._reply_to_turn(state)
        for item in reversed(state.items):
            texts = [c.get("text") or "" for c in item.get("content") or []]
            quoted = re.findall(r'"([^"]+)"', " ".join(texts))
            if quoted:
                return quoted[-1]
        return "Okay."

    def _respond(
        self,
        ws: ServerConnection,
        conn: RealtimeConnection,
        state: _ConnectionState,
        reply: str | ToolReply,
    ) -> None:
        state.response = asyncio.create_task(self._response(ws, conn, state, reply))

    async def _response(
        self,
        ws: ServerConnection,
        conn: RealtimeConnection,
        state: _ConnectionState,
        reply: str | ToolReply,
    ) -> None:
        response = {
            "object": "realtime.response",
            "id": self._id("resp"),
            "status": "in_progress",
            "output": [],
        }
        rid = response["id"]
        await self._send(ws, conn, {"type": "response.created", "response": dict(response)})
        try:
            hold = self.hold.get(reply) if isinstance(reply, str) else None
            if hold is not None:
                await hold.wait()
            if isinstance(reply, ToolReply):
                item = await self._tool_call(ws, conn, rid, reply)
                state.after_tool[item["call_id"]] = reply.then
            else:
                item = await self._speak(ws, conn, rid, reply)
            state.items.append(item)
            response["output"] = [item]
            response["status"] = "completed"
        except asyncio.CancelledError:
            response["status"] = "cancelled"
            response["status_details"] = {"type": "cancelled", "reason": "turn_detected"}
        response["usage"] = {"total_tokens": 30, "input_tokens": 20, "output_tokens": 10}
        with contextlib.suppress(ConnectionClosed):  # cancelled as the connection ended
            await self._send(ws, conn, {"type": "response.done", "response": response})

    async def _speak(
        self, ws: ServerConnection, conn: RealtimeConnection, rid: str, text: str
    ) -> dict[str, Any]:
        item = {
            "id": self._id("item"),
            "type": "message",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        where = {"response_id": rid, "item_id": item["id"], "output_index": 0}
        await self._send(ws, conn, {"type": "conversation.item.added", "item": item})
        await self._send(
            ws,
            conn,
            {
                "type": "response.output_item.added",
                "response_id": rid,
                "output_index": 0,
                "item": item,
            },
        )
        made_ms = 0
        for i, word in enumerate(text.split()):
            piece = word if i == 0 else f" {word}"
            await self._send(
                ws,
                conn,
                {
                    "type": "response.output_audio_transcript.delta",
                    **where,
                    "content_index": 0,
                    "delta": piece,
                },
            )
            start, made_ms = made_ms, made_ms + len(piece) * self.ms_per_char
            audio = base64.b64encode(_tone(start, made_ms)).decode()
            await self._send(
                ws,
                conn,
                {
                    "type": "response.output_audio.delta",
                    **where,
                    "content_index": 0,
                    "delta": audio,
                },
            )
            if self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
        spoken = " ".join(text.split())
        await self._send(
            ws, conn, {"type": "response.output_audio.done", **where, "content_index": 0}
        )
        await self._send(
            ws,
            conn,
            {
                "type": "response.output_audio_transcript.done",
                **where,
                "content_index": 0,
                "transcript": spoken,
            },
        )
        item = dict(
            item, status="completed", content=[{"type": "output_audio", "transcript": spoken}]
        )
        await self._send(
            ws,
            conn,
            {
                "type": "response.output_item.done",
                "response_id": rid,
                "output_index": 0,
                "item": item,
            },
        )
        await self._send(ws, conn, {"type": "conversation.item.done", "item": item})
        return item

    async def _tool_call(
        self, ws: ServerConnection, conn: RealtimeConnection, rid: str, reply: ToolReply
    ) -> dict[str, Any]:
        arguments = json.dumps(reply.arguments)
        item = {
            "id": self._id("item"),
            "type": "function_call",
            "status": "in_progress",
            "call_id": self._id("call"),
            "name": reply.name,
            "arguments": "",
        }
        where = {
            "response_id": rid,
            "item_id": item["id"],
            "output_index": 0,
            "call_id": item["call_id"],
        }
        await self._send(ws, conn, {"type": "conversation.item.added", "item": item})
        await self._send(
            ws,
            conn,
            {
                "type": "response.output_item.added",
                "response_id": rid,
                "output_index": 0,
                "item": item,
            },
        )
        await self._send(
            ws,
            conn,
            {"type": "response.function_call_arguments.delta", **where, "delta": arguments},
        )
        await self._send(
            ws,
            conn,
            {"type": "response.function_call_arguments.done", **where, "arguments": arguments},
        )
        item = dict(item, status="completed", arguments=arguments)
        await self._send(
            ws,
            conn,
            {
                "type": "response.output_item.done",
                "response_id": rid,
                "output_index": 0,
                "item": item,
            },
        )
        await self._send(ws, conn, {"type": "conversation.item.done", "item": item})
        return item

    # ---- sending ------------------------------------------------------------------------------

    async def _send(self, ws: ServerConnection, conn: RealtimeConnection, event: dict) -> None:
        event = {"event_id": self._id("event"), **event}
        conn.sent.append(event)
        await ws.send(json.dumps(event))
        await self._notify()

    async def _close(
        self, ws: ServerConnection, conn: RealtimeConnection, code: int, reason: str
    ) -> None:
        conn.close = (code, reason)
        await self._notify()
        await ws.close(code, reason)


@dataclass
class _ConnectionState:
    """The conversation and the detector's state on one connection."""

    items: list[dict[str, Any]] = field(default_factory=list)
    after_tool: dict[str, str] = field(default_factory=dict)  # call_id -> the reply after it
    response: asyncio.Task[None] | None = None
    unanswered: int | None = None  # the caller's turn no response has answered yet
    pending: bytes = b""
    speaking: bool = False
    loud_ms: int = 0
    quiet_ms: int = 0
    item_id: str | None = None

    def reset_vad(self) -> None:
        self.speaking, self.loud_ms, self.quiet_ms, self.item_id = False, 0, 0, None


def _error(kind: str, code: str, message: str) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {"type": kind, "code": code, "message": message, "param": None, "event_id": None},
    }


def _merge(into: dict[str, Any], update: dict[str, Any]) -> None:
    """``session.update`` semantics: the fields given replace those held, nested objects
    merged; ``null`` clears (``turn_detection: null`` turns server VAD off)."""
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def _tone(start_ms: int, end_ms: int) -> bytes:
    """The tone from ``start_ms`` to ``end_ms`` of a reply, continuous across deltas."""
    first, last = (ms * RATE // 1000 for ms in (start_ms, end_ms))
    t = np.arange(first, last) / RATE
    return (0.25 * np.sin(2 * np.pi * TONE_HZ * t) * 32767).astype("<i2").tobytes()
