"""RedisStore on a real redis-server (loopback, no persistence), and a returning caller
through it."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.conftest import load_example
from voicebot.memory import Memory, MemoryStore, RedisStore
from voicebot.memory.memory import NOTE_HEADER


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


# ---- retention (key TTLs) and forget ----------------------------------------------------------


async def user_keys(store: RedisStore, prefix: str) -> list[str]:
    """Every key under ``prefix``, read from the server itself."""
    client = store._client  # the raw client, to look past the store's own reads
    return sorted([key async for key in client.scan_iter(match=f"{prefix}*")])


async def test_with_retention_every_key_a_write_touches_gets_the_time_to_live(
    redis_url: str,
) -> None:
    store = RedisStore(redis_url, prefix="ttl1:", retention_days=30)
    default = RedisStore(redis_url, prefix="ttl1b:")
    try:
        await store.put_fact("ada", "Ada is vegetarian.")
        await store.append_transcript("ada", "s1", [{"role": "user", "text": "hi"}])
        keys = await user_keys(store, "ttl1:")
        assert keys == [
            "ttl1:facts:ada",
            "ttl1:factset:ada",
            "ttl1:sessions:ada",
            "ttl1:sessionset:ada",
            "ttl1:transcript:s1",
        ]
        month_ms = 30 * 86400 * 1000
        for key in keys:
            ttl = await store._client.pttl(key)
            assert month_ms - 60_000 < ttl <= month_ms, (key, ttl)
        # A fact said again renews its keys (shortened by hand to see the renewal).
        await store._client.pexpire("ttl1:facts:ada", 1000)
        assert await store.put_fact("ada", "Ada is vegetarian.") is False
        assert await store._client.pttl("ttl1:facts:ada") > month_ms - 60_000
        # Without retention_days, keys never expire (as before).
        await default.put_fact("ada", "Ada is vegetarian.")
        assert await default._client.pttl("ttl1b:facts:ada") == -1
    finally:
        await store.close()
        await default.close()


@pytest.mark.real_time  # Redis expires keys on its own clock
async def test_expired_keys_are_gone_and_an_expired_session_is_not_read(redis_url: str) -> None:
    short = RedisStore(redis_url, prefix="ttl2:", retention_days=0.2 / 86400)  # 200 ms
    try:
        await short.put_fact("ada", "Ada is vegetarian.")
        await short.append_transcript("ada", "s1", [{"role": "user", "text": "hi"}])
        deadline = time.monotonic() + 10  # generous: the subject is that they go at all
        while await user_keys(short, "ttl2:") and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert await user_keys(short, "ttl2:") == []
        assert await short.get_facts("ada") == []
        assert await short.read_transcripts("ada") == []
        # A session list that outlives one of its transcripts reads only what is left.
        await short._client.rpush("ttl2:sessions:ada", "gone", "s2")
        await short._client.rpush("ttl2:transcript:s2", '{"role": "user", "text": "x"}')
        assert [s.session_id for s in await short.read_transcripts("ada")] == ["s2"]
    finally:
        await short.close()


async def test_forget_deletes_every_key_of_a_caller_and_nobody_elses(redis_url: str) -> None:
    store = RedisStore(redis_url, prefix="fg:")
    memory = Memory(store=store)
    try:
        for fact in ("Ada is vegetarian.", "Ada has a dog."):
            await store.put_fact("ada", fact)
        await store.append_transcript("ada", "s1", [{"role": "user", "text": "hi"}] * 3)
        await store.append_transcript("ada", "s2", [{"role": "user", "text": "again"}])
        await store.put_fact("bob", "Bob prefers mornings.")
        await store.append_transcript("bob", "s3", [{"role": "user", "text": "hello"}])

        assert await memory.forget("ada") == 6  # 2 facts + 4 transcript entries
        assert await user_keys(store, "fg:") == [
            "fg:facts:bob",
            "fg:factset:bob",
            "fg:sessions:bob",
            "fg:sessionset:bob",
            "fg:transcript:s3",
        ]
        assert await store.get_facts("ada") == []
        assert await store.read_transcripts("ada") == []
        assert await store.get_facts("bob") == ["Bob prefers mornings."]
        assert await memory.forget("ada") == 0
    finally:
        await store.close()


def test_a_password_in_the_redis_url_is_not_in_the_repr() -> None:
    store = RedisStore("redis://:s3cret-redis-pass@127.0.0.1:1/0")
    assert "s3cret-redis-pass" not in repr(store)
    assert repr(store) == "RedisStore('redis://:***@127.0.0.1:1/0')"
