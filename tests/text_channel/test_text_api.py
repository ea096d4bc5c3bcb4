"""``voicebot serve --text``: the JSON/WebSocket API on a real uvicorn (127.0.0.1, port 0),
called with httpx and websockets, good input and bad."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import websockets

from tests.conftest import REPO
from voicebot import Bot, tool
from voicebot.testing import FakeLLM, ToolCall
from voicebot.text_channel.api import CLOSE_UNKNOWN_SESSION, MAX_TEXT_BYTES, create_text_app
from voicebot.text_channel.sessions import TextSessions

#: Upper bounds on failure only (a server that never starts, a reply that never comes).
BOUND_SECS = 30.0
TOKEN = "a-serve-token-of-24-chars"


@tool
def opening_hours(day: str) -> str:
    """Opening hours on a day."""
    return "ten to four"


def tool_bot() -> Bot:
    return Bot(
        llm=FakeLLM(
            replies=[ToolCall("opening_hours", {"day": "saturday"}), "Ten to four."],
            ttft_secs=0.01,
        ),
        greeting="Hello!",
        tools=[opening_hours],
    )


def echo_bot() -> Bot:
    return Bot(llm=FakeLLM(ttft_secs=0.01))  # answers "You said: {user}"


@contextlib.contextmanager
def served(bot: Bot, **options: Any) -> Iterator[str]:
    """The text API for ``bot`` on a real uvicorn in a thread; yields its base URL."""
    app = create_text_app(bot, **options)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + BOUND_SECS
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(BOUND_SECS)
        sock.close()


def ws_url(base: str, session_id: str) -> str:
    return base.replace("http://", "ws://") + f"/text/sessions/{session_id}/ws"


async def open_session(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    answer = await client.post("/text/sessions", json=body)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def test_a_session_answers_with_tool_calls_then_ends() -> None:
    with served(tool_bot()) as base:
        async with httpx.AsyncClient(base_url=base, timeout=BOUND_SECS) as client:
            opened = await open_session(client, user_id="ada")
            assert opened["greeting"] == "Hello!" and opened["user_id"] == "ada"
            sid = opened["session_id"]
            answer = await client.post(f"/text/sessions/{sid}/messages", json={"text": "Sat?"})
            assert answer.status_code == 200, answer.text
            reply = answer.json()["reply"]
            assert reply["text"] == "Ten to four." and reply["complete"] is True
            [call] = reply["tool_calls"]
            assert (call["name"], call["arguments"], call["result"]) == (
                "opening_hours",
                {"day": "saturday"},
                "ten to four",
            )
            assert reply["turn"]["session_id"] == sid and reply["turn"]["index"] == 1
            assert reply["turn"]["voice_to_voice_secs"] > 0

            view = (await client.get(f"/text/sessions/{sid}")).json()
            assert [t["user_text"] for t in view["turns"]] == ["", "Sat?"]
            assert (await client.delete(f"/text/sessions/{sid}")).json() == {"status": "ended"}
            gone = await client.post(f"/text/sessions/{sid}/messages", json={"text": "hi"})
            assert gone.status_code == 404
            assert (await client.delete(f"/text/sessions/{sid}")).status_code == 404


async def test_a_reply_streams_as_ndjson() -> None:
    with served(tool_bot()) as base:
        async with httpx.AsyncClient(base_url=base, timeout=BOUND_SECS) as client:
            sid = (await open_session(client))["session_id"]
            url = f"/text/sessions/{sid}/messages?stream=true"
            async with client.stream("POST", url, json={"text": "Sat?"}) as answer:
                assert answer.headers["content-type"].startswith("application/x-ndjson")
                events = [json.loads(line) async for line in answer.aiter_lines() if line]
    assert events[0]["type"] == "tool_call" and events[0]["name"] == "opening_hours"
    chunks = [e["text"] for e in events if e["type"] == "chunk"]
    assert events[-1]["type"] == "reply"
    assert "".join(chunks).strip() == events[-1]["text"] == "Ten to four."


async def test_the_websocket_streams_queues_and_survives_bad_messages() -> None:
    with served(echo_bot()) as base:
        async with httpx.AsyncClient(base_url=base, timeout=BOUND_SECS) as client:
            sid = (await open_session(client))["session_id"]
        async with websockets.connect(ws_url(base, sid), open_timeout=BOUND_SECS) as ws:

            async def next_reply() -> tuple[list[str], dict[str, Any]]:
                chunks: list[str] = []
                while True:
                    event = json.loads(await asyncio.wait_for(ws.recv(), BOUND_SECS))
                    if event["type"] != "chunk":
                        return chunks, event
                    chunks.append(event["text"])

            await ws.send("{not json")
            _, error = await next_reply()
            assert error["type"] == "error" and error["status"] == 400
            await ws.send(json.dumps({"text": ""}))
            assert (await next_reply())[1] == {
                "type": "error",
                "status": 422,
                "error": "'text' is empty",
            }
            await ws.send(json.dumps({"text": "x" * (MAX_TEXT_BYTES + 1)}))
            assert (await next_reply())[1]["status"] == 413
            # Two messages at once: queued, answered in order, each streamed then whole.
            await ws.send(json.dumps({"text": "one"}))
            await ws.send(json.dumps({"text": "two"}))
            for word in ("one", "two"):
                chunks, reply = await next_reply()
                assert reply["type"] == "reply" and reply["text"] == f"You said: {word}"
                assert "".join(chunks).strip() == reply["text"]


async def test_bad_input_is_refused_with_one_line() -> None:
    with served(echo_bot()) as base:
        async with httpx.AsyncClient(base_url=base, timeout=BOUND_SECS) as client:
            sid = (await open_session(client))["session_id"]
            url = f"/text/sessions/{sid}/messages"
            cases: list[tuple[Any, int, str]] = [
                ({}, 422, "the message has no 'text' field"),
                ({"text": 42}, 422, "'text' must be a string, not int"),
                ({"text": " \n"}, 422, "'text' is empty"),
                (
                    {"text": "é" * (MAX_TEXT_BYTES // 2 + 1)},
                    413,
                    f"'text' is over {MAX_TEXT_BYTES} bytes",
                ),
                ([1, 2], 400, "the body must be a JSON object"),
            ]
            for body, status, detail in cases:
                answer = await client.post(url, json=body)
                assert (answer.status_code, answer.json()) == (status, {"detail": detail})
            not_json = await client.post(
                url, content=b"{", headers={"content-type": "application/json"}
            )
            assert not_json.status_code == 400 and "not JSON" in not_json.json()["detail"]
            huge = await client.post(url, content=b"x" * (1 << 20))
            assert huge.status_code == 413
            bad_user = await client.post("/text/sessions", json={"user_id": ""})
            assert bad_user.status_code == 422
            for method, path in (
                ("POST", "/text/sessions/nope/messages"),
                ("GET", "/text/sessions/nope"),
                ("DELETE", "/text/sessions/nope"),
            ):
                answer = await client.request(method, path, json={"text": "hi"})
                assert answer.status_code == 404
                assert answer.json()["detail"].startswith("no session 'nope'")
            # The session still answers after all of that.
            assert (await client.post(url, json={"text": "ok"})).json()["reply"]["text"] == (
                "You said: ok"
            )
        async with websockets.connect(ws_url(base, "nope"), open_timeout=BOUND_SECS) as ws:
            error = json.loads(await asyncio.wait_for(ws.recv(), BOUND_SECS))
            assert error["status"] == 404
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), BOUND_SECS)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == CLOSE_UNKNOWN_SESSION


async def test_a_message_while_one_is_answered_over_http_is_409() -> None:
    go = threading.Event()

    @tool
    async def slow_lookup() -> str:
        """Looks something up slowly."""
        await asyncio.to_thread(go.wait, BOUND_SECS)
        return "found"

    bot = Bot(
        llm=FakeLLM(replies=[ToolCall("slow_lookup"), "Found it."], ttft_secs=0.01),
        tools=[slow_lookup],
    )
    with served(bot) as base:
        async with httpx.AsyncClient(base_url=base, timeout=BOUND_SECS) as client:
            sid = (await open_session(client))["session_id"]
            url = f"/text/sessions/{sid}/messages"
            async with client.stream("POST", url + "?stream=true", json={"text": "look"}) as first:
                lines = first.aiter_lines()
                assert json.loads(await anext(lines))["type"] == "tool_call"  # the tool waits
                second = await client.post(url, json={"text": "hurry"})
                assert second.status_code == 409
                assert "still answering" in second.json()["detail"]
                go.set()
                rest = [json.loads(line) async for line in lines if line]
            assert rest[-1]["type"] == "reply" and rest[-1]["text"] == "Found it."
            after = await client.post(url, json={"text": "hurry"})
            assert after.json()["reply"]["text"] == "You said: hurry"


async def test_a_token_is_required_when_set() -> None:
    with served(echo_bot(), token=TOKEN) as base:
        async with httpx.AsyncClient(base_url=base, timeout=BOUND_SECS) as client:
            assert (await client.get("/healthz")).status_code == 200
            assert (await client.post("/text/sessions", json={})).status_code == 401
            wrong = {"Authorization": "Bearer not-the-token-at-all"}
            assert (await client.post("/text/sessions", json={}, headers=wrong)).status_code == 401
            right = {"Authorization": f"Bearer {TOKEN}"}
            opened = await client.post("/text/sessions", json={}, headers=right)
            assert opened.status_code == 201
        sid = opened.json()["session_id"]
        with pytest.raises(websockets.InvalidStatus):
            async with websockets.connect(ws_url(base, sid), open_timeout=BOUND_SECS):
                pass
        async with websockets.connect(
            ws_url(base, sid), additional_headers=right, open_timeout=BOUND_SECS
        ) as ws:
            await ws.send(json.dumps({"text": "hi"}))
            events = []
            while not events or events[-1]["type"] == "chunk":
                events.append(json.loads(await asyncio.wait_for(ws.recv(), BOUND_SECS)))
            assert events[-1]["text"] == "You said: hi"


async def test_sessions_beyond_the_cap_are_503_until_one_ends() -> None:
    bot = echo_bot()
    with served(bot, sessions=TextSessions(bot, max_sessions=1)) as base:
        async with httpx.AsyncClient(base_url=base, timeout=BOUND_SECS) as client:
            sid = (await open_session(client))["session_id"]
            full = await client.post("/text/sessions", json={})
            assert full.status_code == 503 and "1 chats are open" in full.json()["detail"]
            assert (await client.delete(f"/text/sessions/{sid}")).status_code == 200
            await open_session(client)  # its place is free again


async def test_an_idle_session_is_ended() -> None:
    bot = echo_bot()
    with served(bot, sessions=TextSessions(bot, idle_secs=0.2)) as base:
        async with httpx.AsyncClient(base_url=base, timeout=BOUND_SECS) as client:
            sid = (await open_session(client))["session_id"]
            deadline = time.monotonic() + BOUND_SECS
            while (await client.get(f"/text/sessions/{sid}")).status_code != 404:
                assert time.monotonic() < deadline, "the idle session was never ended"
                await asyncio.sleep(0.3)  # longer than idle_secs: polling is not use


def test_the_serve_text_command_serves_the_api(tmp_path: Path) -> None:
    (tmp_path / "bot.py").write_text(
        "from voicebot import Bot\nfrom voicebot.testing import FakeLLM\n"
        "bot = Bot(llm=FakeLLM(ttft_secs=0.01), greeting='Hi!')\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.Popen(
        [sys.executable, "-m", "voicebot.cli", "serve", "--text", "bot.py", "--port", "0"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(4 * BOUND_SECS, proc.kill)  # a server that never prints
    watchdog.start()
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # printed once the server is ready
        found = re.search(r"(http://127\.0\.0\.1:\d+)/text/sessions", line)
        assert found, f"no URL in {line!r}; stderr: {proc.stderr.read() if proc.stderr else ''}"
        with httpx.Client(base_url=found.group(1), timeout=BOUND_SECS) as client:
            opened = client.post("/text/sessions", json={"user_id": "u1"}).json()
            assert opened["greeting"] == "Hi!"
            url = f"/text/sessions/{opened['session_id']}/messages"
            assert client.post(url, json={"text": "yo"}).json()["reply"]["text"] == "You said: yo"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(BOUND_SECS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        watchdog.cancel()
    assert proc.returncode == 130  # Ctrl-C's status, after uvicorn's graceful shutdown
    assert proc.stderr is not None
    errors = proc.stderr.read()
    assert "Traceback" not in errors and "session" in errors  # the sessions' one-line log
