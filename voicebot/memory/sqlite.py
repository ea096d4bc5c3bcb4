"""``SQLiteStore``: memory in one SQLite file, safe for many threads and processes.

The file is in WAL mode (readers never block the writer), every write is one
``BEGIN IMMEDIATE`` transaction (all of it lands or none of it does, even if the process
is killed mid-write), and other processes writing at the same time wait up to
``timeout_secs`` for their turn instead of failing. Each call opens its own connection in
a worker thread, so the event loop never waits on the disk.

With ``retention_days``, each fact and transcript entry is deleted that long after it was
last written: expired rows are left out of every read and deleted on the next write and when
the file is first opened. ``forget(user_id)`` deletes a caller's rows. Deleted content is
overwritten (``secure_delete``) and the WAL is checkpointed afterwards, so it does not linger
in the file's free pages or its ``-wal`` file.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from voicebot.memory.store import SessionTranscript, clean_fact, retention_secs
from voicebot.redaction import redact, redact_value

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
CREATE INDEX IF NOT EXISTS facts_by_age ON facts (created_at);
CREATE INDEX IF NOT EXISTS transcript_by_age ON transcript_entries (created_at);
"""


class SQLiteStore:
    """A ``MemoryStore`` in the SQLite file at ``path`` (created if missing).

    ``retention_days``: how long a fact or transcript entry is kept after it was last
    written (``None``, the default: for good). ``clock`` is the time in seconds since the
    epoch (``time.time``), for tests.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        timeout_secs: float = 30.0,
        retention_days: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.timeout_secs = timeout_secs
        self.retention_days = retention_days
        self._retention_secs = retention_secs(retention_days)
        self._clock = clock
        self._ready = False

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    # ---- connections and transactions ------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if not self._ready:  # the folder first: SQLite creates the file, not its folder
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: transactions are begun and ended here, explicitly.
        conn = sqlite3.connect(self.path, timeout=self.timeout_secs, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {int(self.timeout_secs * 1000)}")
        conn.execute("PRAGMA secure_delete = ON")  # deleted data is overwritten, not left
        if not self._ready:
            self._until_unlocked(lambda: self._set_up(conn))
            self._ready = True
        conn.execute("PRAGMA synchronous = FULL")
        return conn

    def _set_up(self, conn: sqlite3.Connection) -> None:
        """WAL mode and the schema, once per store (idempotent)."""
        if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            conn.execute("PRAGMA journal_mode = WAL")
        conn.executescript(_SCHEMA)  # each statement commits on its own
        conn.execute("PRAGMA synchronous = FULL")
        if self._retention_secs is not None and self._write(conn, self._purge):
            self._checkpoint(conn)

    def _until_unlocked(self, work: Callable[[], None]) -> None:
        """Run ``work``, again while another connection holds the lock, up to
        ``timeout_secs``: switching to WAL while another store opens the same new file can
        fail at once with "database is locked", without SQLite's busy handler waiting."""
        deadline = time.monotonic() + self.timeout_secs
        pause = 0.005
        while True:
            try:
                return work()
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.2)

    def _cutoff(self) -> float:
        """Rows written before this time have expired (``-inf``: nothing expires)."""
        if self._retention_secs is None:
            return float("-inf")
        return self._clock() - self._retention_secs

    def _purge(self, conn: sqlite3.Connection) -> int:
        """Delete expired rows (inside a write transaction); how many there were."""
        if self._retention_secs is None:
            return 0
        cutoff = self._cutoff()
        deleted = conn.execute("DELETE FROM facts WHERE created_at < ?", (cutoff,)).rowcount
        deleted += conn.execute(
            "DELETE FROM transcript_entries WHERE created_at < ?", (cutoff,)
        ).rowcount
        return int(deleted)

    @staticmethod
    def _checkpoint(conn: sqlite3.Connection) -> None:
        """Copy the WAL into the file and empty it, so deleted rows' old pages are gone
        from the ``-wal`` file too (best effort: a reader still open elsewhere keeps it)."""
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()

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
                "SELECT fact FROM facts WHERE user_id = ? AND created_at >= ? ORDER BY id",
                (user_id, self._cutoff()),
            ).fetchall()
            return [r[0] for r in rows]

        return await self._call(read)

    async def put_fact(self, user_id: str, fact: str) -> bool:
        text = redact(clean_fact(fact))

        def write(conn: sqlite3.Connection) -> bool:
            self._purge(conn)
            now = self._clock()
            cur = conn.execute(
                "INSERT OR IGNORE INTO facts (user_id, fact, created_at) VALUES (?, ?, ?)",
                (user_id, text, now),
            )
            if cur.rowcount == 1:
                return True
            # Known already: said again, so it is kept for another retention period.
            conn.execute(
                "UPDATE facts SET created_at = ? WHERE user_id = ? AND fact = ?",
                (now, user_id, text),
            )
            return False

        return await self._call(lambda conn: self._write(conn, write))

    async def append_transcript(
        self, user_id: str, session_id: str, entries: Sequence[Mapping[str, Any]]
    ) -> None:
        if not entries:
            return
        lines = [json.dumps(redact_value(dict(e)), default=str) for e in entries]

        def write(conn: sqlite3.Connection) -> None:
            self._purge(conn)
            now = self._clock()
            rows = [(user_id, session_id, line, now) for line in lines]
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
                "SELECT session_id, entry FROM transcript_entries "
                "WHERE user_id = ? AND created_at >= ? ORDER BY id",
                (user_id, self._cutoff()),
            ).fetchall()
            sessions: dict[str, SessionTranscript] = {}
            for session_id, entry in rows:
                sessions.setdefault(session_id, SessionTranscript(session_id)).entries.append(
                    json.loads(entry)
                )
            ordered = list(sessions.values())
            return ordered[-limit:] if limit else ordered

        return await self._call(read)

    async def forget(self, user_id: str) -> int:
        """Delete the user's facts and transcripts; how many rows there were."""

        def delete(conn: sqlite3.Connection) -> int:
            facts = conn.execute("DELETE FROM facts WHERE user_id = ?", (user_id,)).rowcount
            entries = conn.execute(
                "DELETE FROM transcript_entries WHERE user_id = ?", (user_id,)
            ).rowcount
            return int(facts + entries)

        def forget(conn: sqlite3.Connection) -> int:
            deleted = self._write(conn, delete)
            self._checkpoint(conn)
            return deleted

        return await self._call(forget)

    async def close(self) -> None:
        """Nothing to release: each call opens and closes its own connection."""

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check``: ``"ok"`` for an intact file."""
        return str(self._run(lambda conn: conn.execute("PRAGMA integrity_check").fetchone()[0]))
