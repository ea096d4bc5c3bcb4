"""SQLiteStore: facts and transcripts, across connections, threads and processes."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from voicebot.memory import MemoryStore, RedisStore, SQLiteStore


async def test_facts_are_kept_per_user_in_order_and_once(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "m.db")
    assert isinstance(store, MemoryStore)
    assert await store.get_facts("ada") == []
    assert await store.put_fact("ada", "Prefers  mornings.\n") is True
    assert await store.put_fact("ada", "Has a dog called Rex.") is True
    assert await store.put_fact("ada", "Prefers mornings.") is False  # same fact, once
    assert await store.put_fact("bob", "Is vegetarian.") is True
    assert await store.get_facts("ada") == ["Prefers mornings.", "Has a dog called Rex."]
    assert await store.get_facts("bob") == ["Is vegetarian."]
    with pytest.raises(ValueError):
        await store.put_fact("ada", "   ")
    # Another store on the same file (a new process would do the same) sees it all.
    assert await SQLiteStore(tmp_path / "m.db").get_facts("ada") == [
        "Prefers mornings.",
        "Has a dog called Rex.",
    ]


async def test_transcripts_are_grouped_by_session_oldest_first(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "m.db")
    await store.append_transcript("ada", "s1", [{"role": "user", "text": "Hi"}])
    await store.append_transcript("ada", "s1", [{"role": "assistant", "text": "Hello"}])
    await store.append_transcript("ada", "s2", [{"role": "user", "text": "Again"}])
    await store.append_transcript("bob", "s3", [{"role": "user", "text": "Other"}])
    await store.append_transcript("ada", "s4", [])  # nothing to write, no session
    sessions = await store.read_transcripts("ada")
    assert [(s.session_id, s.entries) for s in sessions] == [
        ("s1", [{"role": "user", "text": "Hi"}, {"role": "assistant", "text": "Hello"}]),
        ("s2", [{"role": "user", "text": "Again"}]),
    ]
    assert [s.session_id for s in await store.read_transcripts("ada", limit=1)] == ["s2"]


async def test_the_file_is_in_wal_mode_and_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "m.db")
    await store.put_fact("ada", "x")
    mode = sqlite3.connect(tmp_path / "m.db").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    # A batch with an entry that cannot be stored is rolled back whole.
    with pytest.raises(TypeError):
        await store.append_transcript("ada", "s1", [{"role": "user"}, object()])  # type: ignore[list-item]
    assert await store.read_transcripts("ada") == []


async def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    stores = [SQLiteStore(tmp_path / "m.db") for _ in range(4)]
    await asyncio.gather(
        *(s.put_fact("ada", f"fact {i}-{n}") for i, s in enumerate(stores) for n in range(10))
    )
    assert len(await stores[0].get_facts("ada")) == 40


WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from voicebot.memory import SQLiteStore

    async def main():
        store = SQLiteStore(sys.argv[1])
        n = 0
        while True:
            entries = [{"role": "user", "text": f"line {n}-{k}"} for k in range(20)]
            await store.append_transcript("ada", f"s{n}", entries)
            await store.put_fact("ada", f"fact {n}")
            print(n, flush=True)  # n's transcript and fact are committed
            n += 1

    asyncio.run(main())
    """
)


def test_a_writer_killed_mid_write_leaves_the_file_intact_with_every_commit(
    tmp_path: Path,
) -> None:
    db = tmp_path / "m.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    committed: list[int] = []
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while len(committed) < 30 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        committed.append(int(line))
    proc.send_signal(signal.SIGKILL)  # somewhere inside the next write
    proc.wait()
    assert len(committed) >= 30, "the writer did not get going"

    store = SQLiteStore(db)
    assert store.integrity_check() == "ok"
    facts = asyncio.run(store.get_facts("ada"))
    sessions = asyncio.run(store.read_transcripts("ada"))
    # Every write reported as committed is there, whole...
    for n in committed:
        assert f"fact {n}" in facts
    by_id = {s.session_id: s.entries for s in sessions}
    for n in committed:
        assert [e["text"] for e in by_id[f"s{n}"]] == [f"line {n}-{k}" for k in range(20)]
    # ...and the write the kill cut short is either all there or not at all.
    assert all(len(entries) == 20 for entries in by_id.values())


def test_redis_store_says_how_to_install_redis_when_it_is_missing(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from voicebot.errors import MissingExtraError

    monkeypatch.setitem(sys.modules, "redis.asyncio", None)
    with pytest.raises(MissingExtraError, match=r"voicebot\[redis\]"):
        RedisStore("redis://127.0.0.1:1/0")


async def test_a_store_in_a_folder_not_made_yet_makes_it(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "not" / "yet" / "m.db")
    assert await store.put_fact("ada", "likes tea")
    assert await store.get_facts("ada") == ["likes tea"]
