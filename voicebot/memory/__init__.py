"""Memory for voice bots: user facts across calls, recent turns and summaries within one,
and knowledge looked up for each turn (RAG) within a time budget.

    from voicebot import Bot
    from voicebot.memory import Memory, SQLiteStore

    bot = Bot(memory=Memory(store=SQLiteStore("memory.db"), recent_turns=4, summarize_after=8))
    session = bot.session(user_id="+15551234")

See docs/memory.md.
"""

from voicebot.memory.embeddings import Embedder, MiniLMEmbedder
from voicebot.memory.memory import Memory, MemorySession, NoteSummaryLLM, note_summary, transcript
from voicebot.memory.redis_store import RedisStore
from voicebot.memory.retrieval import KnowledgeInjector, Retrieval, RetrievalStarter
from voicebot.memory.retriever import LocalRetriever, Passage, Retriever
from voicebot.memory.sqlite import SQLiteStore
from voicebot.memory.store import MemoryStore, SessionTranscript, TranscriptEntry

__all__ = [
    "Embedder",
    "KnowledgeInjector",
    "LocalRetriever",
    "Memory",
    "MemorySession",
    "MemoryStore",
    "MiniLMEmbedder",
    "NoteSummaryLLM",
    "Passage",
    "RedisStore",
    "Retrieval",
    "RetrievalStarter",
    "Retriever",
    "SQLiteStore",
    "SessionTranscript",
    "TranscriptEntry",
    "note_summary",
    "transcript",
]
