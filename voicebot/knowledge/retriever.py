"""Retrievers: the passages of a knowledge base that may answer what the caller just said.

``Retriever`` is the interface a bot's ``Retrieval`` stage calls (one coroutine);
``LocalRetriever`` is the offline default: documents embedded with ``MiniLMEmbedder`` and
searched by cosine similarity in memory. Any search service (a vector database, a keyword
index) fits behind the same coroutine.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from loguru import logger

from voicebot.errors import ConfigError
from voicebot.knowledge.embeddings import Embedder, MiniLMEmbedder

TEXT_SUFFIXES = (".txt", ".md")


@dataclass(frozen=True)
class Passage:
    """A piece of the knowledge base; ``score`` is how well it matched (cosine, -1..1)."""

    text: str
    source: str = ""
    score: float = 0.0


@runtime_checkable
class Retriever(Protocol):
    """What a ``Retrieval`` stage needs: the ``k`` best passages for ``query``, best first.

    It may be slow or fail: the stage gives it a time budget and carries on without it.
    """

    async def retrieve(self, query: str, k: int) -> list[Passage]: ...


class LocalRetriever:
    """In-memory semantic search over your documents, offline.

    ``LocalRetriever(["text", Passage(...), ...])`` or ``LocalRetriever.from_folder("kb/")``
    (``.txt`` and ``.md`` files, cut into paragraphs of up to ``chunk_chars``). Documents are
    embedded once, at ``load()`` (``Bot.prepare()`` calls it, in a worker thread) or on the
    first query; a query is embedded in a worker thread, so the event loop never waits on it.
    Passages scoring under ``min_score`` are left out: a weak match is noise to the LLM.
    """

    def __init__(
        self,
        documents: Iterable[str | Passage] = (),
        *,
        embedder: Embedder | None = None,
        min_score: float = 0.3,
    ) -> None:
        self.passages: list[Passage] = []
        for i, doc in enumerate(documents):
            passage = doc if isinstance(doc, Passage) else Passage(str(doc), f"doc{i}")
            if not passage.text.strip():
                raise ConfigError(f"LocalRetriever: document {i} ({passage.source}) is empty")
            self.passages.append(passage)
        self.embedder: Embedder = embedder if embedder is not None else MiniLMEmbedder()
        self.min_score = min_score
        self._vectors: np.ndarray | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_folder(
        cls,
        folder: str | Path,
        *,
        chunk_chars: int = 600,
        embedder: Embedder | None = None,
        min_score: float = 0.3,
    ) -> LocalRetriever:
        """Every ``.txt``/``.md`` file under ``folder``, in paragraphs (source ``file#n``)."""
        root = Path(folder)
        if not root.is_dir():
            raise ConfigError(f"LocalRetriever.from_folder: {root} is not a folder")
        passages: list[Passage] = []
        for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in TEXT_SUFFIXES):
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise ConfigError(f"LocalRetriever.from_folder: cannot read {path}: {e}") from None
            for n, chunk in enumerate(chunk_text(text, chunk_chars)):
                passages.append(Passage(chunk, f"{path.relative_to(root)}#{n}"))
        if not passages:
            raise ConfigError(f"LocalRetriever.from_folder: no .txt or .md text under {root}")
        return cls(passages, embedder=embedder, min_score=min_score)

    def check(self) -> None:
        """Raise ``MissingExtraError`` if the embedding model is not installed."""
        check = getattr(self.embedder, "check", None)
        if callable(check):
            check()

    def load(self) -> None:
        """Embed the documents (once); ~15 ms a paragraph on one core."""
        with self._lock:
            if self._vectors is not None:
                return
            if not self.passages:
                self._vectors = np.zeros((0, 1), dtype=np.float32)
                return
            logger.info(f"retrieval: embedding {len(self.passages)} passages...")
            vectors = [
                self.embedder.embed([p.text for p in self.passages[i : i + 32]])
                for i in range(0, len(self.passages), 32)
            ]
            self._vectors = np.concatenate(vectors)

    def search(self, query: str, k: int = 3) -> list[Passage]:
        """The blocking search behind ``retrieve``."""
        if not query.strip() or not self.passages:
            return []
        self.load()
        assert self._vectors is not None
        scores = self._vectors @ self.embedder.embed([query])[0]
        best = np.argsort(-scores)[:k]
        return [
            Passage(self.passages[i].text, self.passages[i].source, float(scores[i]))
            for i in best
            if scores[i] >= self.min_score
        ]

    async def retrieve(self, query: str, k: int) -> list[Passage]:
        return await asyncio.to_thread(self.search, query, k)


def chunk_text(text: str, max_chars: int) -> list[str]:
    """Paragraphs (blank-line separated) merged up to ``max_chars``; longer ones are cut at
    sentence ends."""
    pieces: list[str] = []
    for para in re.split(r"\n\s*\n", text):
        para = " ".join(para.split())
        if not para:
            continue
        if len(para) <= max_chars:
            pieces.append(para)
            continue
        current = ""
        for sentence in re.split(r"(?<=[.!?])\s+", para):
            if current and len(current) + 1 + len(sentence) > max_chars:
                pieces.append(current)
                current = sentence
            else:
                current = f"{current} {sentence}".strip()
        if current:
            pieces.append(current)
    # A heading alone travels with what follows it; other short neighbours travel together,
    # but a new heading starts a new passage (two topics in one passage dilute both).
    chunks: list[str] = []
    heading_only = False
    for piece in pieces:
        fits = bool(chunks) and len(chunks[-1]) + 1 + len(piece) <= max_chars
        small = bool(chunks) and len(chunks[-1]) + 1 + len(piece) <= max_chars // 2
        if fits and (heading_only or (small and not piece.startswith("#"))):
            chunks[-1] = f"{chunks[-1]} {piece}"
        else:
            chunks.append(piece)
        heading_only = _is_heading(piece) and chunks[-1] == piece
    return chunks


def _is_heading(paragraph: str) -> bool:
    """A Markdown heading on its own (``# Title``), with no text after it."""
    return (
        paragraph.startswith("#") and len(paragraph) <= 120 and not re.search(r"[.!?]", paragraph)
    )


def passages_text(passages: Sequence[Passage]) -> str:
    return "\n".join(f"- {p.text}" for p in passages)
