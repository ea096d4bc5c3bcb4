"""What a SQLite memory keeps, for how long, and what ``forget`` leaves behind: nothing.

Time is an injected clock; nothing sleeps. ``forget`` is checked on the raw file bytes
(the database and its ``-wal``), not only through the store's own reads.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from voicebot.errors import ConfigError
from voicebot.memory import Memory, MemoryStore, SQLiteStore

DAY = 86400.0


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def rows(path: Path, table: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return list(conn.execute(f"SELECT * FROM {table}").fetchall())


def raw_bytes(path: Path) -> bytes:
    """The database file and its -wal/-shm, as they are now; SQLite removes the -wal when
    its last connection closes (a store's worker thread may do so while this reads)."""
    out = b""
    for part in path.parent.glob(path.name + "*"):
        try:
            out += part.read_bytes()
        except FileNotFoundError:
            continue
    return out


async def test_expired_facts_and_transcripts_are_not_read_and_are_deleted_on_write(
    tmp_path: Path,
) -> None:
    clock = Clock()
    db = tmp_path / "memory.db"
    store = SQLiteStore(db, retention_days=30, clock=clock)
    await store.put_fact("ada", "Ada is vegetarian.")
    await store.append_transcript("ada", "s1", [{"role": "user", "text": "hi"}])

    clock.now += 20 * DAY
    await store.put_fact("ada", "Ada has a dog.")
    await store.append_transcript("ada", "s2", [{"role": "user", "text": "again"}])
    assert await store.get_facts("ada") == ["Ada is vegetarian.", "Ada has a dog."]

    clock.now += 11 * DAY  # 31 days after the first call, 11 after the second
    assert await store.get_facts("ada") == ["Ada has a dog."]
    assert [s.session_id for s in await store.read_transcripts("ada")] == ["s2"]
    assert len(rows(db, "facts")) == 2, "a read deletes nothing"

    await store.put_fact("bob", "Bob calls on Mondays.")  # any write purges every user
    assert [r[2] for r in rows(db, "facts")] == ["Ada has a dog.", "Bob calls on Mondays."]
    assert [r[2] for r in rows(db, "transcript_entries")] == ["s2"]


async def test_a_fact_said_again_is_kept_for_another_period(tmp_path: Path) -> None:
    clock = Clock()
    store = SQLiteStore(tmp_path / "memory.db", retention_days=30, clock=clock)
    assert await store.put_fact("ada", "Ada is vegetarian.") is True
    clock.now += 25 * DAY
    assert await store.put_fact("ada", "Ada is vegetarian.") is False
    clock.now += 25 * DAY
    assert await store.get_facts("ada") == ["Ada is vegetarian."]
    clock.now += 6 * DAY
    assert await store.get_facts("ada") == []
    assert await store.put_fact("ada", "Ada is vegetarian.") is True, "expired: new again"


async def test_expired_rows_are_deleted_when_the_file_is_opened(tmp_path: Path) -> None:
    clock = Clock()
    db = tmp_path / "memory.db"
    keep_all = SQLiteStore(db, clock=clock)
    await keep_all.put_fact("ada", "Ada is vegetarian.")
    await keep_all.append_transcript("ada", "s1", [{"role": "user", "text": "hi"}])
    clock.now += 400 * DAY
    assert await keep_all.get_facts("ada") == ["Ada is vegetarian."], "default: kept"

    await SQLiteStore(db, retention_days=365, clock=clock).get_facts("nobody")  # a read
    assert rows(db, "facts") == [] and rows(db, "transcript_entries") == []


async def test_forget_deletes_every_trace_of_a_caller_and_nobody_else(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    store = SQLiteStore(db)
    memory = Memory(store=store)
    for i in range(20):
        await store.put_fact("+15550001", f"Zebrafish-lover fact number {i}.")
    await store.append_transcript(
        "+15550001", "call-1", [{"role": "user", "text": "My secret word is QUOKKA-XYZZY."}]
    )
    await store.put_fact("+15550002", "Bob prefers mornings.")
    assert b"QUOKKA-XYZZY" in raw_bytes(db)

    assert await memory.forget("+15550001") == 21
    assert await store.get_facts("+15550001") == []
    assert await store.read_transcripts("+15550001") == []
    assert [r[1] for r in rows(db, "facts")] == ["+15550002"]
    assert rows(db, "transcript_entries") == []
    data = raw_bytes(db)  # database, -wal and -shm: no free page or WAL frame keeps it
    assert b"QUOKKA-XYZZY" not in data and b"Zebrafish" not in data
    assert b"+15550001" not in data
    assert b"Bob prefers mornings." in data
    assert await memory.forget("+15550001") == 0


@pytest.mark.parametrize("days", [0, -1, float("nan")])
def test_a_retention_that_keeps_nothing_is_refused(tmp_path: Path, days: float) -> None:
    with pytest.raises(ConfigError, match="retention_days"):
        SQLiteStore(tmp_path / "m.db", retention_days=days)


def test_a_store_without_forget_is_refused_naming_it() -> None:
    class OldStore:
        async def get_facts(self, user_id: str) -> list[str]:
            return []

        async def put_fact(self, user_id: str, fact: str) -> bool:
            return True

        async def append_transcript(self, user_id: str, session_id: str, entries: object) -> None:
            return None

        async def read_transcripts(self, user_id: str, *, limit: int | None = None) -> list[str]:
            return []

        async def close(self) -> None:
            return None

    assert not isinstance(OldStore(), MemoryStore)
    with pytest.raises(ConfigError, match=r"it has no forget"):
        Memory(store=OldStore())
