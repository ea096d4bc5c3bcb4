"""User memory for voice bots: facts about the caller across calls, recent turns and
summaries within one.

    from voicebot import Bot
    from voicebot.memory import Memory, SQLiteStore

    bot = Bot(memory=Memory(store=SQLiteStore("memory.db"), recent_turns=4, summarize_after=8))
    session = bot.session(user_id="+15551234")

Knowledge looked up for each turn (RAG) is ``voicebot.knowledge``. See docs/memory.md.
"""

import importlib
import warnings

from voicebot.memory.memory import Memory, MemorySession, NoteSummaryLLM, note_summary, transcript
from voicebot.memory.redis_store import RedisStore
from voicebot.memory.sqlite import SQLiteStore
from voicebot.memory.store import MemoryStore, SessionTranscript, TranscriptEntry

#: RAG names that lived here until 0.1 (now ``voicebot.knowledge``): still importable from
#: here for one release, with a DeprecationWarning naming the new home.
_MOVED = frozenset(
    {
        "Embedder",
        "KnowledgeInjector",
        "LocalRetriever",
        "MiniLMEmbedder",
        "Passage",
        "Retrieval",
        "RetrievalStarter",
        "Retriever",
    }
)


def __getattr__(name: str) -> object:
    if name in _MOVED:
        warnings.warn(
            f"voicebot.memory.{name} moved to voicebot.knowledge.{name}",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module("voicebot.knowledge"), name)
    raise AttributeError(f"module 'voicebot.memory' has no attribute {name!r}")


__all__ = [
    "Memory",
    "MemorySession",
    "MemoryStore",
    "NoteSummaryLLM",
    "RedisStore",
    "SQLiteStore",
    "SessionTranscript",
    "TranscriptEntry",
    "note_summary",
    "transcript",
]
