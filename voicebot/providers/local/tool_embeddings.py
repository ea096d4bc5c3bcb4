"""Sentence-embedding similarity of a request to groups of texts (one group per tool).

Routing by word overlap only finds a tool whose own words the caller says; callers say
"cab" for a taxi and "scrap my visit" for a cancellation. Sentence embeddings place
paraphrases near each other: all-mpnet-base-v2 (``mpnet``) when its packages are installed,
else all-MiniLM-L6-v2 (the one the RAG stage runs), both on numpy. The texts of a tool set
are embedded once per process and cached; a request costs one short embedding (~70 ms with
mpnet on two cores, ~12 ms with MiniLM: CPU work, callers run it off the event loop).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
from loguru import logger

from voicebot.errors import ConfigError, MissingExtraError
from voicebot.knowledge.embeddings import Embedder, MiniLMEmbedder
from voicebot.providers.local.mpnet import INSTALL as MPNET_INSTALL
from voicebot.providers.local.mpnet import MPNetEmbedder

_CACHE_SIZE = 32
_lock = threading.Lock()
_cache: OrderedDict[tuple[int, tuple[tuple[str, ...], ...]], tuple[Embedder, np.ndarray]] = (
    OrderedDict()
)
_shared: list[Embedder | None] = []  # empty until first asked; [None] if unavailable


def _mpnet() -> MPNetEmbedder | None:
    """all-mpnet-base-v2, loaded (so a bad install shows here, once), or None (logged)."""
    embedder = MPNetEmbedder()
    try:
        embedder.check()
        embedder.load()
    except MissingExtraError as e:
        logger.info(f"Offline tool routing uses all-MiniLM-L6-v2 (fewer right): {e}")
        return None
    except ConfigError as e:
        logger.warning(f"Offline tool routing cannot use all-mpnet-base-v2: {e}")
        return None
    return embedder


def shared_embedder() -> Embedder | None:
    """The process-wide embedder for routing: all-mpnet-base-v2, else all-MiniLM-L6-v2, else
    None (with one warning: routing falls back to word overlap). The first call loads the
    model (~1 s for mpnet; the very first on a machine also extracts it, seconds)."""
    with _lock:
        if not _shared:
            found: Embedder | None = _mpnet()
            if found is None:
                minilm = MiniLMEmbedder()
                try:
                    minilm.check()
                    found = minilm
                except MissingExtraError as e:
                    logger.warning(
                        f"Offline tool routing falls back to word overlap: {e}; "
                        f"better still: {MPNET_INSTALL}"
                    )
            _shared.append(found)
        return _shared[0]


def _reset_shared_embedder() -> None:
    """Forget the shared embedder and the cache (tests that hide the model)."""
    with _lock:
        _shared.clear()
        _cache.clear()


def group_vectors(embedder: Embedder, groups: Sequence[Sequence[str]]) -> np.ndarray:
    """Unit vectors of every text, shape ``(sum of group sizes, dims)``, cached per set."""
    key = (id(embedder), tuple(tuple(g) for g in groups))
    with _lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit[1]
    vectors = embedder.embed([t for g in groups for t in g])
    with _lock:
        # The embedder is kept with its vectors so that its id() cannot be reused meanwhile.
        _cache[key] = (embedder, vectors)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return vectors


def group_similarities(
    embedder: Embedder,
    groups: Sequence[Sequence[str]],
    request: str | np.ndarray,
    *,
    top: int = 1,
) -> np.ndarray:
    """Per group, the best cosine similarity of ``request`` (text, or its unit vector from
    ``embedder``, to embed it once for several calls) to one of its texts; with ``top`` > 1,
    the mean of its ``top`` best (one odd text then counts for less)."""
    vectors = group_vectors(embedder, groups)
    query = embedder.embed([request])[0] if isinstance(request, str) else request
    sims = vectors @ query
    out = np.empty(len(groups), dtype=np.float64)
    start = 0
    for i, g in enumerate(groups):
        mine = sims[start : start + len(g)]
        out[i] = float(np.sort(mine)[-top:].mean()) if g else -1.0
        start += len(g)
    return out


def margin_scores(similarities: np.ndarray, weight: float) -> np.ndarray:
    """Similarity plus ``weight`` times its lead over the mean of the other groups.

    Small talk is about equally (dis)similar to every tool, a request for one tool stands
    out from the rest: the lead separates them better than the raw similarity alone.
    """
    n = len(similarities)
    if n < 2:
        return similarities.copy()
    others = (similarities.sum() - similarities) / (n - 1)
    return similarities + weight * (similarities - others)
