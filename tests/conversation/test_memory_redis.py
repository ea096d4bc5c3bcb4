"""RedisStore on a real redis-server (loopback, no persistence), and a returning caller
through it."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import load_example
from voicebot.memory import MemoryStore, RedisStore
from voicebot.memory.memory import NOTE_HEADER

REDIS_SERVER = shutil.which("redis-server") or (
    "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    proc = subprocess.Popen(
        [
            REDIS_SERVER,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_redis_store_keeps_facts_and_transcripts(redis_url: str) -> None:
    store = RedisStore(redis_url, prefix="t1:")
    assert isinstance(store, MemoryStore)
    try:
        assert await store.get_facts("ada") == []
        assert await store.put_fact("ada", "Prefers  mornings.") is True
        assert await store.put_fact("ada", "Has a dog.") is True
        assert await store.put_fact("ada", "Prefers mornings.") is False
        assert await store.get_facts("ada") == ["Prefers mornings.", "Has a dog."]
        assert await store.get_facts("bob") == []
        # Many writers at once: each fact stored exactly once.
        await asyncio.gather(*(store.put_fact("bob", f"fact {i % 10}") for i in range(50)))
        assert sorted(await store.get_facts("bob")) == sorted(f"fact {i}" for i in range(10))

        await store.append_transcript("ada", "s1", [{"role": "user", "text": "Hi"}])
        await store.append_transcript("ada", "s1", [{"role": "assistant", "text": "Hello"}])
        await store.append_transcript("ada", "s2", [{"role": "user", "text": "Again"}])
        await store.append_transcript("ada", "s3", [])
        sessions = await store.read_transcripts("ada")
        assert [(s.session_id, s.entries) for s in sessions] == [
            ("s1", [{"role": "user", "text": "Hi"}, {"role": "assistant", "text": "Hello"}]),
            ("s2", [{"role": "user", "text": "Again"}]),
        ]
        assert [s.session_id for s in await store.read_transcripts("ada", limit=1)] == ["s2"]
    finally:
        await store.close()
    # A second client (another process would be the same) sees the same memory.
    other = RedisStore(redis_url, prefix="t1:")
    try:
        assert await other.get_facts("ada") == ["Prefers mornings.", "Has a dog."]
    finally:
        await other.close()


async def test_a_returning_caller_is_known_from_the_first_call_through_redis(
    redis_url: str,
) -> None:
    example = load_example("memory_returning_caller.py", "memory_returning_caller_redis")
    first, second = await example.main(redis_url)

    store = RedisStore(redis_url)
    try:
        stored = await store.get_facts(example.USER_ID)
        assert set(stored) == {"The caller's name is Ada.", "Ada is vegetarian."}
        sessions = await store.read_transcripts(example.USER_ID)
        assert [s.session_id for s in sessions] == [first.id, second.id]
    finally:
        await store.close()
    assert not any(m["role"] == "developer" for m in first.llm.requests[0])
    _, note, user = second.llm.requests[0]
    assert note == {
        "role": "developer",
        "content": NOTE_HEADER + "".join(f"\n- {f}" for f in stored),
    }
    assert user["content"] == "Hello again, what do you suggest for dinner?"
