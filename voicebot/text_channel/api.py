"""``voicebot serve --text``: a bot as a JSON and WebSocket API that a chat platform calls.

Routes (every one but ``/healthz`` needs ``Authorization: Bearer TOKEN`` when the server has
a token; off loopback it must have one, as for ``voicebot serve``):

- ``POST /text/sessions`` ``{"user_id": "ada"}`` (optional: whose memory) -> 201
  ``{"session_id", "user_id", "greeting"}``.
- ``POST /text/sessions/{id}/messages`` ``{"text": "..."}`` -> ``{"session_id", "reply":
  {"text", "complete", "tool_calls", "turn"}}``; with ``?stream=true`` the reply streams as
  NDJSON lines: ``{"type": "chunk", "text"}``, ``{"type": "tool_call", "name", "call_id",
  "arguments"}``, then ``{"type": "reply", ...}`` (or ``{"type": "error", ...}``).
- ``WS /text/sessions/{id}/ws``: send ``{"text": "..."}``, receive the same events as the
  stream; messages sent while a reply is being written are queued and answered in order. A
  bad message gets ``{"type": "error", "status", "error"}`` and the socket stays open.
- ``GET /text/sessions/{id}``: the session's completed turns; ``DELETE`` ends it.

Bad input: a body that is not a JSON object 400; a missing or empty field 422; ``text``
over ``MAX_TEXT_BYTES`` (UTF-8) 413; an unknown or ended session 404; a message while the
session is answering another one over HTTP 409 (one at a time; the WebSocket queues); a new
session beyond the cap 503. Every error is ``{"detail": "one line"}``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, HTTPException, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, StreamingResponse
from loguru import logger

from voicebot.errors import ConfigError
from voicebot.server.offers import read_json
from voicebot.server.supervisor import check_token
from voicebot.text_channel.chat import ChatEnded, ReplyStream
from voicebot.text_channel.sessions import HeldChat, SessionsFull, TextSessions
from voicebot.text_channel.transport import ToolCallStarted

if TYPE_CHECKING:
    from voicebot.bot import Bot

#: The largest message text accepted (bytes of UTF-8): a chat message, not a document.
MAX_TEXT_BYTES = 8 * 1024
#: The longest user id accepted (characters).
MAX_USER_ID_CHARS = 200
#: WebSocket close code for an unknown session (4000-4999 are the application's).
CLOSE_UNKNOWN_SESSION = 4404


class BadMessage(ValueError):
    """A message the API refuses, with the HTTP status that says why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def message_text(body: Any) -> str:
    """The ``text`` of a message body, or ``BadMessage`` (422 missing/empty, 413 too long)."""
    if not isinstance(body, dict):
        raise BadMessage(400, 'a message is a JSON object: {"text": "..."}')
    text = body.get("text")
    if text is None:
        raise BadMessage(422, "the message has no 'text' field")
    if not isinstance(text, str):
        raise BadMessage(422, f"'text' must be a string, not {type(text).__name__}")
    if len(text.encode("utf-8", "surrogatepass")) > MAX_TEXT_BYTES:
        raise BadMessage(413, f"'text' is over {MAX_TEXT_BYTES} bytes")
    if not text.strip():
        raise BadMessage(422, "'text' is empty")
    return text


def user_id_of(body: dict[str, Any]) -> str | None:
    """The optional ``user_id`` of a new session, or ``BadMessage`` (422)."""
    user_id = body.get("user_id")
    if user_id is None:
        return None
    if not isinstance(user_id, str) or not user_id.strip():
        raise BadMessage(422, "'user_id' must be a non-empty string (or left out)")
    if len(user_id) > MAX_USER_ID_CHARS:
        raise BadMessage(422, f"'user_id' is over {MAX_USER_ID_CHARS} characters")
    return user_id.strip()


def _event(event: Any) -> dict[str, Any]:
    if isinstance(event, ToolCallStarted):
        from voicebot.memory.memory import json_safe

        return {
            "type": "tool_call",
            "name": event.name,
            "call_id": event.call_id,
            "arguments": json_safe(event.arguments),
        }
    return {"type": "chunk", "text": event}


async def reply_events(reply: ReplyStream) -> AsyncIterator[dict[str, Any]]:
    """A reply as the API's events: chunks and tool calls, then the reply or an error."""
    try:
        async for event in reply.events():
            yield _event(event)
        yield {"type": "reply", **(await reply).to_dict()}
    except ChatEnded as e:
        yield {"type": "error", "status": 404, "error": str(e)}


def create_text_app(
    bot: Bot,
    *,
    token: str | None = None,
    sessions: TextSessions | None = None,
    announce: str | None = None,
) -> FastAPI:
    """The text API as a FastAPI app; the LLM loads in its startup (lifespan), after which
    ``announce`` is printed."""
    held_chats = sessions if sessions is not None else TextSessions(bot)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await held_chats.start()
        if announce:
            print(announce, flush=True)
        try:
            yield
        finally:
            await held_chats.stop()

    app = FastAPI(
        title="voicebot text", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.sessions = held_chats

    def authed(request: Request) -> None:
        check_token(request, token)

    guarded = [Depends(authed)]

    @app.exception_handler(BadMessage)
    async def bad_message(_request: Request, error: BadMessage) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=error.status)

    def held(session_id: str) -> HeldChat:
        found = held_chats.get(session_id)
        if found is None:
            raise HTTPException(404, f"no session {session_id[:64]!r} (unknown, ended or expired)")
        return found

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/text/sessions", dependencies=guarded, status_code=201)
    async def open_session(body: dict[str, Any] = Depends(read_json)) -> dict[str, Any]:  # noqa: B008
        user_id = user_id_of(body)
        try:
            opened = await held_chats.open(user_id)
        except SessionsFull as e:
            raise HTTPException(503, str(e)) from None
        except ConfigError as e:  # e.g. a Memory with no user id and none given
            raise HTTPException(422, str(e).splitlines()[0]) from None
        return {
            "session_id": opened.chat.id,
            "user_id": user_id,
            "greeting": opened.chat.greeting,
        }

    @app.post("/text/sessions/{session_id}/messages", dependencies=guarded, response_model=None)
    async def message(
        session_id: str,
        stream: bool = False,
        body: dict[str, Any] = Depends(read_json),  # noqa: B008
    ) -> dict[str, Any] | StreamingResponse:
        found = held(session_id)
        text = message_text(body)
        if found.chat.busy:
            raise HTTPException(
                409,
                "this session is still answering its last message: send the next one after "
                "the reply (the WebSocket queues messages instead)",
            )
        reply = found.chat.send(text)
        if stream:

            async def lines() -> AsyncIterator[bytes]:
                async for event in reply_events(reply):
                    yield (json.dumps(event) + "\n").encode()
                found.touch()

            return StreamingResponse(lines(), media_type="application/x-ndjson")
        try:
            result = await reply
        except ChatEnded as e:
            raise HTTPException(404, str(e)) from None
        found.touch()
        return {"session_id": session_id, "reply": result.to_dict()}

    @app.get("/text/sessions/{session_id}", dependencies=guarded)
    async def view(session_id: str) -> dict[str, Any]:
        found = held(session_id)
        from voicebot.memory.memory import json_safe

        return {
            "session_id": session_id,
            "user_id": found.user_id,
            "busy": found.chat.busy,
            "turns": [json_safe(t.to_dict()) for t in found.chat.turns],
        }

    @app.delete("/text/sessions/{session_id}", dependencies=guarded)
    async def end(session_id: str) -> dict[str, str]:
        if not await held_chats.close(session_id):
            raise HTTPException(404, f"no session {session_id[:64]!r} (unknown, ended or expired)")
        return {"status": "ended"}

    @app.websocket("/text/sessions/{session_id}/ws")
    async def socket(websocket: WebSocket, session_id: str) -> None:
        try:
            check_token(websocket, token)
        except HTTPException:
            await websocket.close(code=1008, reason="a token is needed")
            return
        await websocket.accept()
        if held_chats.get(session_id) is None:
            await websocket.send_json(
                {"type": "error", "status": 404, "error": f"no session {session_id[:64]!r}"}
            )
            await websocket.close(code=CLOSE_UNKNOWN_SESSION)
            return
        try:
            await _converse(websocket, session_id, held_chats)
        except WebSocketDisconnect:
            logger.debug(f"voicebot text: socket of session {session_id} closed")

    return app


async def _converse(websocket: WebSocket, session_id: str, chats: TextSessions) -> None:
    """Answer the socket's messages in order until it closes or the session ends."""
    while True:
        raw = await websocket.receive_text()
        found = chats.get(session_id)
        if found is None:
            await websocket.send_json(
                {"type": "error", "status": 404, "error": "the session has ended"}
            )
            await websocket.close(code=CLOSE_UNKNOWN_SESSION)
            return
        try:
            body = json.loads(raw)
            text = message_text(body)
        except (ValueError, RecursionError) as e:
            status = e.status if isinstance(e, BadMessage) else 400
            reason = str(e) if isinstance(e, BadMessage) else f"the message is not JSON: {e}"
            await websocket.send_json({"type": "error", "status": status, "error": reason})
            continue
        async for event in reply_events(found.chat.send(text)):
            await websocket.send_json(event)
        found.touch()


def serve_text(
    bot: Bot,
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    token: str | None = None,
    name: str | None = None,
    verbose: bool = False,
) -> None:
    """Serve the text API until Ctrl-C (``port=0``: any free port; the printed URL says
    which). Off loopback a ``token`` (16+ characters) is required."""
    import uvicorn

    from voicebot.server.options import ServeOptions
    from voicebot.server.playground import listen

    ServeOptions(target=name or "bot", host=host, port=port, token=token).check()
    sessions = TextSessions(bot)
    sessions.check()  # a bad spec fails here, before the server starts
    sock = listen(host, port)
    port = sock.getsockname()[1]
    url_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url_host = f"[{url_host}]" if ":" in url_host else url_host
    what = f" {name}" if name else ""
    announce = (
        f"voicebot: text API for{what} at http://{url_host}:{port}/text/sessions (Ctrl-C to stop)"
    )
    app = create_text_app(bot, token=token, sessions=sessions, announce=announce)
    try:
        config = uvicorn.Config(
            app, log_level="info" if verbose else "warning", access_log=verbose, lifespan="on"
        )
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
