"""Knowledge for voice bots (RAG): passages of your documents looked up for each turn and
put into the context within a time budget.

    from voicebot import Bot
    from voicebot.knowledge import LocalRetriever, Retrieval

    bot = Bot(retrieval=Retrieval(LocalRetriever.from_folder("kb/"), budget_ms=150))

    Retrieval, RetrievalStarter,  the pipeline stages and their budget    retrieval.py
      KnowledgeInjector
    Retriever, LocalRetriever,    what searches, and the offline search   retriever.py
      Passage
    Embedder, MiniLMEmbedder      sentence vectors, offline (numpy)       embeddings.py
    RetrievalRecord               one turn's retrieval outcome            record.py

User memory (facts about the caller) is ``voicebot.memory``. See docs/memory.md.
"""

from voicebot.knowledge.embeddings import Embedder, MiniLMEmbedder
from voicebot.knowledge.record import RetrievalRecord
from voicebot.knowledge.retrieval import KnowledgeInjector, Retrieval, RetrievalStarter
from voicebot.knowledge.retriever import LocalRetriever, Passage, Retriever

__all__ = [
    "Embedder",
    "KnowledgeInjector",
    "LocalRetriever",
    "MiniLMEmbedder",
    "Passage",
    "Retrieval",
    "RetrievalRecord",
    "RetrievalStarter",
    "Retriever",
]
