"""One turn's retrieval outcome, as data (``TurnRecord.retrieval``).

Apart from the retrieval stage so that ``voicebot.metrics.records`` can name it without
depending on the stage's code.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RetrievalRecord:
    """One turn's retrieval: what was searched, how long it took, whether it made it.

    ``secs`` is the search's own duration (``None`` if it was still running when the turn
    went ahead); ``waited_secs`` is how long the turn was held for it (at most the budget);
    ``in_time`` says whether the passages reached the LLM; ``error`` is set when the
    retriever failed.
    """

    query: str
    in_time: bool
    waited_secs: float
    secs: float | None = None
    sources: list[str] = field(default_factory=list)
    error: str | None = None
