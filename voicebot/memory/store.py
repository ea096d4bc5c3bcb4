"""What a memory backend does: user facts by user id, and session transcripts.

A store may keep what it holds for a limited time (``retention_days=`` on ``SQLiteStore``
and ``RedisStore``; by default it keeps everything), and ``forget(user_id)`` deletes all of a
caller's data (docs/privacy.md).

Every method is a coroutine so a network store (Redis) and a file store (SQLite, run in a
worker thread) look the same to the bot. A store is shared by all sessions of a process
and, for SQLite and Redis, by all processes that open the same file or server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from voicebot.errors import ConfigError

#: One line of a transcript: ``{"role": "user" | "assistant" | "tool", "text": ..., ...}``.
TranscriptEntry = dict[str, Any]


@dataclass
class SessionTranscript:
    """The transcript of one session of one user, oldest entry first."""

    session_id: str
    entries: list[TranscriptEntry] = field(default_factory=list)


@runtime_checkable
class MemoryStore(Protocol):
    """Long-term memory: facts about a user, and the transcripts of their sessions."""

    async def get_facts(self, user_id: str) -> list[str]:
        """The user's facts, oldest first."""
        ...

    async def put_fact(self, user_id: str, fact: str) -> bool:
        """Store a fact; ``False`` when the user already had exactly this fact."""
        ...

    async def append_transcript(
        self, user_id: str, session_id: str, entries: Sequence[Mapping[str, Any]]
    ) -> None:
        """Append entries to a session's transcript, all of them or none."""
        ...

    async def read_transcripts(
        self, user_id: str, *, limit: int | None = None
    ) -> list[SessionTranscript]:
        """The user's sessions, oldest first; with ``limit``, only the last ``limit``."""
        ...

    async def forget(self, user_id: str) -> int:
        """Delete everything stored about the user (facts and transcripts); how many facts
        and transcript entries there were."""
        ...

    async def close(self) -> None:
        """Release connections (the store may not be used afterwards)."""
        ...


def clean_fact(fact: str) -> str:
    """A fact as stored: one line, no surrounding blanks; refuses empty facts."""
    text = " ".join(str(fact).split())
    if not text:
        raise ValueError("a fact must be some text")
    return text


def retention_secs(retention_days: float | None) -> float | None:
    """``retention_days`` in seconds; ``None`` keeps everything. Refuses 0 and less."""
    if retention_days is None:
        return None
    if not retention_days > 0:  # also NaN
        raise ConfigError(
            f"retention_days={retention_days!r}: give a number of days above 0, or None to "
            "keep everything"
        )
    return float(retention_days) * 86400.0
