"""A retriever with set answers, delays and failures: tests a bot's RAG path without a model."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence

from voicebot.knowledge.retriever import Passage


class FakeRetriever:
    """Answers each query with the passages whose keyword it contains.

    ``FakeRetriever({"hours": "We open at nine."}, delay_secs=0.05)``: a query containing
    "hours" gets that passage. ``delay_secs`` is a fixed delay, or a function of the query
    (a slow search for some turns); ``fail`` makes every search raise. ``queries`` records
    what was searched.
    """

    def __init__(
        self,
        answers: Mapping[str, str | Sequence[str]],
        *,
        delay_secs: float | Callable[[str], float] = 0.0,
        fail: bool = False,
    ) -> None:
        self.answers = {
            k.lower(): [v] if isinstance(v, str) else list(v) for k, v in answers.items()
        }
        self.delay_secs = delay_secs
        self.fail = fail
        self.queries: list[str] = []

    async def retrieve(self, query: str, k: int) -> list[Passage]:
        self.queries.append(query)
        delay = self.delay_secs(query) if callable(self.delay_secs) else self.delay_secs
        if delay:
            await asyncio.sleep(delay)
        if self.fail:
            raise ConnectionError("knowledge base unreachable")
        found = [
            Passage(text, source=keyword, score=1.0)
            for keyword, texts in self.answers.items()
            if keyword in query.lower()
            for text in texts
        ]
        return found[:k]
