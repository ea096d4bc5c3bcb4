"""``SQLiteStore``: memory in one SQLite file, safe for many threads and processes.

The file is in WAL mode (readers never block the writer), every write is one
``BEGIN IMMEDIATE`` transaction (all of it lands or none of it does, even if the process
is killed mid-write), and other processes writing at the same time wait up to
``timeout_secs`` for their turn instead of failing. Each call opens its own connection in
a worker thread, so the event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from voicebot.memory.store import SessionTranscript, clean_fact

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS facts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL,
    fact TEXT NOT NULL,
    created_at REAL NOT NULL,
    UNIQUE (user_id, fact)
);
CREATE TABLE IF NOT EXISTS transcript_entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    entry TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS transcript_by_user ON transcript_entries (user_id, id);
"""


class SQLiteStore:
    """A ``MemoryStore`` in the SQLite file at ``path`` (created if missing)."""

    def __init__(self, path: str | Path, *, timeout_secs: float = 30.0) -> None:
        self.path = Path(path)
        self.timeout_secs = timeout_secs
        self._ready = False

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    # ---- connections and transactions ------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: transactions are begun and ended here, explicitly.
        conn = sqlite3.connect(self.path, timeout=self.timeout_secs, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {int(self.timeout_secs * 1000)}")
        if not self._ready:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.executescript(_SCHEMA)  # idempotent; each statement commits on its own
            self._ready = True
        conn.execute("PRAGMA synchronous = FULL")
        return conn

    @staticmethod
    def _write(conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` in one write transaction: committed whole, or rolled back."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = work(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._connect()
        try:
            return work(conn)
        finally:
            conn.close()

    async def _call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.to_thread(self._run, work)

    # ---- MemoryStore -----------------------------------------------------------------------

    async def get_facts(self, user_id: str) -> list[str]:
        def read(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(
                "SELECT fact FROM facts WHERE user_id = ? ORDER BY id", (user_id,)
            ).fetchall()
            return [r[0] for r in rows]

        return await self._call(read)

    async def put_fact(self, user_id: str, fact: str) -> bool:
        text = clean_fact(fact)

        def write(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "INSERT OR IGNORE INTO facts (user_id, fact, created_at) VALUES (?, ?, ?)",
                (user_id, text, time.time()),
            )
            return cur.rowcount == 1

        return await self._call(lambda conn: self._write(conn, write))

    async def append_transcript(
        self, user_id: str, session_id: str, entries: Sequence[Mapping[str, Any]]
    ) -> None:
        now = time.time()
        rows = [(user_id, session_id, json.dumps(dict(e), default=str), now) for e in entries]
        if not rows:
            return

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT INTO transcript_entries (user_id, session_id, entry, created_at) "
                "VALUES (?, ?, ?, ?)",
                rows,
            )

        await self._call(lambda conn: self._write(conn, write))

    async def read_transcripts(
        self, user_id: str, *, limit: int | None = None
    ) -> list[SessionTranscript]:
        def read(conn: sqlite3.Connection) -> list[SessionTranscript]:
            rows = conn.execute(
                "SELECT session_id, entry FROM transcript_entries WHERE user_id = ? ORDER BY id",
                (user_id,),
            ).fetchall()
            sessions: dict[str, SessionTranscript] = {}
            for session_id, entry in rows:
                sessions.setdefault(session_id, SessionTranscript(session_id)).entries.append(
                    json.loads(entry)
                )
            ordered = list(sessions.values())
            return ordered[-limit:] if limit else ordered

        return await self._call(read)

    async def close(self) -> None:
        """Nothing to release: each call opens and closes its own connection."""

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check``: ``"ok"`` for an intact file."""
        return str(self._run(lambda conn: conn.execute("PRAGMA integrity_check").fetchone()[0]))
