"""What a memory backend does: user facts by user id, and session transcripts.

Every method is a coroutine so a network store (Redis) and a file store (SQLite, run in a
worker thread) look the same to the bot. A store is shared by all sessions of a process
and, for SQLite and Redis, by all processes that open the same file or server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

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

    async def close(self) -> None:
        """Release connections (the store may not be used afterwards)."""
        ...


def clean_fact(fact: str) -> str:
    """A fact as stored: one line, no surrounding blanks; refuses empty facts."""
    text = " ".join(str(fact).split())
    if not text:
        raise ValueError("a fact must be some text")
    return text
