"""RAG under a latency budget: look things up while the turn is still ending.

Two pipeline stages share one ``RetrievalRun`` per session:

- ``RetrievalStarter`` (after STT) starts a search as soon as a final transcript exists,
  with the words of the user's turn so far. A turn's end is usually decided 100 ms or more
  after its last transcript (VAD silence, smart-turn), so the search mostly runs in time
  the caller waits anyway.
- ``KnowledgeInjector`` (after the user aggregator, before the LLM) holds the turn's
  ``LLMContextFrame`` until that search is done or ``budget_ms`` after it started, whichever
  comes first. In time, the passages not yet in the context go in as one developer
  message just before the user's words (``keep="turn"``: replacing the previous turn's);
  late, the reply goes ahead without them and the miss is counted. A failing retriever
  is logged and counted, never raised: the turn carries on.

Each turn's outcome is a ``RetrievalRecord`` on its ``TurnRecord.retrieval``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Literal

from loguru import logger
from pipecat.frames.frames import (
    EagerEndOfTurnCancelFrame,
    Frame,
    LLMContextFrame,
    TranscriptionFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from voicebot.context_notes import KNOWLEDGE_HEADER
from voicebot.errors import ConfigError, from_validation_error
from voicebot.knowledge.record import RetrievalRecord
from voicebot.knowledge.retriever import Passage, Retriever, passages_text


class Retrieval(BaseModel):
    """RAG for a bot: ``Bot(retrieval=Retrieval(LocalRetriever.from_folder("kb/")))``.

    - ``retriever``: anything with ``async retrieve(query, k) -> list[Passage]``.
    - ``budget_ms``: the most a turn waits for it, counted from the final transcript.
    - ``top_k``: passages per turn.
    - ``short_query_words``: a turn this short ("and on Sundays?") is searched together
      with the previous one, so follow-ups find what they follow up on.
    - ``keep``: ``"call"`` (default) leaves earlier turns' passages in the context and adds
      only passages not already there, so the context before the new turn is unchanged
      and an LLM's prompt cache (llama.cpp, OpenAI) still covers it; ``"turn"`` replaces
      the previous turn's passages (a smaller context, but everything after the removed
      message is read again).
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, frozen=True)

    retriever: Any
    budget_ms: float = Field(default=150.0, gt=0, le=10_000)
    top_k: int = Field(default=3, ge=1, le=20)
    short_query_words: int = Field(default=4, ge=0)
    keep: Literal["call", "turn"] = "call"

    def __init__(self, retriever: Any = None, /, **data: Any) -> None:
        if retriever is not None:
            data["retriever"] = retriever
        try:
            super().__init__(**data)
        except ValidationError as e:
            raise from_validation_error("Retrieval", e) from None

    @field_validator("retriever")
    @classmethod
    def _is_retriever(cls, value: Any) -> Any:
        if not isinstance(value, Retriever):
            raise ConfigError(
                "Retrieval(retriever=...) needs an object with "
                f"`async retrieve(query, k) -> list[Passage]` (e.g. LocalRetriever), "
                f"not {type(value).__name__}"
            )
        return value

    def describe(self) -> str:
        """One line for logs: which retriever, with what budget."""
        return (
            f"Retrieval({type(self.retriever).__name__}, budget_ms={self.budget_ms:g}, "
            f"top_k={self.top_k}, keep={self.keep!r})"
        )

    def check(self) -> None:
        """Raise a ``ConfigError`` if the retriever cannot run here (e.g. its model is not
        installed), if it has a ``check()``."""
        check = getattr(self.retriever, "check", None)
        if callable(check):
            check()

    def prepare(self) -> None:
        """Load the retriever's model and index now (blocking), if it has a ``load()``."""
        load = getattr(self.retriever, "load", None)
        if callable(load):
            load()

    def for_session(
        self, on_record: Callable[[RetrievalRecord], None] | None = None
    ) -> RetrievalRun:
        return RetrievalRun(self, on_record)


#: What a search task ends with: the passages, or the retriever's failure.
Found = list[Passage] | Exception


class _Search:
    """One search in flight: the task, when it started, and its outcome once known."""

    def __init__(self, query: str, task: asyncio.Task[Found]) -> None:
        self.query = query
        self.task = task
        self.started = time.monotonic()
        self.finished: float | None = None
        task.add_done_callback(lambda _t: setattr(self, "finished", time.monotonic()))


class RetrievalRun:
    """One session's retrieval: the starter and injector stages, and their records."""

    def __init__(
        self, config: Retrieval, on_record: Callable[[RetrievalRecord], None] | None = None
    ) -> None:
        self.config = config
        self.records: list[RetrievalRecord] = []
        self._on_record = on_record
        self._words: list[str] = []  # the current user turn's final transcripts
        self._previous_query = ""
        self._turn_closed = False  # the next transcript starts a new turn
        self._search: _Search | None = None
        self._message: dict[str, Any] | None = None  # the knowledge message in the context
        self._speculative_record: RetrievalRecord | None = None  # a speculation's, pending
        #: Searches still running; the starter's cleanup cancels them when the session ends.
        self.running: set[asyncio.Task[Found]] = set()

    def starter(self) -> RetrievalStarter:
        return RetrievalStarter(self)

    def injector(self) -> KnowledgeInjector:
        return KnowledgeInjector(self)

    # ---- starter side ----------------------------------------------------------------------

    def on_transcript(self, text: str) -> str | None:
        """The query to search for after this final transcript (None: nothing to search);
        the caller starts ``retrieve(query)`` as a task it owns and hands it to
        ``searching``."""
        if self._turn_closed:
            self._close_turn()
        text = text.strip()
        if not text:
            return None
        self._words.append(text)
        query = " ".join(self._words)
        if len(query.split()) < self.config.short_query_words and self._previous_query:
            query = f"{self._previous_query} {query}"
        return query

    def searching(self, query: str, task: asyncio.Task[Found]) -> None:
        """``task`` is this turn's search now; the one it replaces is cancelled (its shorter
        query's answer would never be used)."""
        self._drop_search()
        self.running.add(task)
        task.add_done_callback(self.running.discard)
        self._search = _Search(query, task)

    def turn_ended(self) -> None:
        self._turn_closed = True

    def _close_turn(self) -> None:
        if self._words:
            self._previous_query = " ".join(self._words)
        self._words = []
        self._drop_search()  # a search that came in late: its answer is not wanted now
        self._turn_closed = False

    def _drop_search(self) -> None:
        if self._search is not None and not self._search.task.done():
            self._search.task.add_done_callback(_consume)
            self._search.task.cancel()
        self._search = None

    def cancel_all(self) -> None:
        """Cancel every search still running: the session is over."""
        for task in list(self.running):
            task.add_done_callback(_consume)
            task.cancel()
        self._search = None

    async def retrieve(self, query: str) -> Found:
        """Search the knowledge base: the coroutine the starter runs as a task. A failure
        is returned, not raised: Pipecat's task manager would log it and drop it."""
        try:
            found = await self.config.retriever.retrieve(query, self.config.top_k)
            return _as_passages(found, self.config.retriever)[: self.config.top_k]
        except Exception as e:
            return e

    # ---- injector side ---------------------------------------------------------------------

    async def inject(self, context: LLMContext, *, speculation: bool) -> None:
        """Wait for this turn's search within the budget; put its passages in ``context``."""
        search = self._search
        if not speculation:
            self._turn_closed = True
        if self.config.keep == "turn":
            self._remove_message(context)
        if search is None:
            return
        remaining = search.started + self.config.budget_ms / 1000 - time.monotonic()
        held = time.monotonic()
        if not search.task.done() and remaining > 0:
            await asyncio.wait([search.task], timeout=remaining)
        waited = time.monotonic() - held
        record = RetrievalRecord(query=search.query, in_time=search.task.done(), waited_secs=waited)
        if search.task.done():
            record.secs = (search.finished or time.monotonic()) - search.started
            passages: list[Passage] = []
            if search.task.cancelled():
                record.error = "cancelled"
            elif isinstance(outcome := search.task.result(), Exception):
                record.error = f"{type(outcome).__name__}: {outcome}"
                logger.warning(f"retrieval failed, answering without it: {record.error}")
            else:
                passages = outcome
            record.sources = [p.source for p in passages]
            if self.config.keep == "call":
                passages = _not_in(context, passages)
            if passages:
                self._add_message(context, passages)
        else:
            logger.debug(f"retrieval late (> {self.config.budget_ms:.0f} ms): answering without it")
            # The search still finishes in its thread; its result is dropped with no error.
            search.task.add_done_callback(_consume)
        if speculation:
            # The turn is not over: filed if it ends on this speculation (speculation_kept).
            self._speculative_record = record
            return
        self._speculative_record = None
        self._file(record)

    def _file(self, record: RetrievalRecord) -> None:
        self.records.append(record)
        if self._on_record is not None:
            self._on_record(record)

    def speculation_withdrawn(self) -> None:
        self._speculative_record = None

    def speculation_kept(self) -> None:
        """The turn ended on the speculative answer (``TurnProvider(speculate=True)``): no
        other inference comes for it, so the speculative search's record is the turn's."""
        record, self._speculative_record = self._speculative_record, None
        if record is not None:
            self._turn_closed = True
            self._file(record)

    def _remove_message(self, context: LLMContext) -> None:
        messages = context.get_messages()
        kept = [m for m in messages if not _is_knowledge(m, self._message)]
        if len(kept) != len(messages):
            context.set_messages(kept)

    def _add_message(self, context: LLMContext, passages: list[Passage]) -> None:
        message = {"role": "developer", "content": f"{KNOWLEDGE_HEADER}\n{passages_text(passages)}"}
        messages: list[Any] = list(context.get_messages())
        at = len(messages)
        for i in range(len(messages) - 1, -1, -1):  # just before the user's last words
            if isinstance(messages[i], dict) and messages[i].get("role") == "user":
                at = i
                break
        messages.insert(at, message)
        context.set_messages(messages)
        self._message = message


def _is_knowledge(message: Any, ours: dict[str, Any] | None) -> bool:
    if message is ours:
        return True
    content = message.get("content") if isinstance(message, dict) else None
    return isinstance(content, str) and content.startswith(KNOWLEDGE_HEADER)


def _as_passages(found: Any, retriever: Any) -> list[Passage]:
    """A retriever's answer as passages (plain strings are accepted); anything else is the
    retriever's bug, reported as this turn's retrieval error rather than a crash."""
    name = type(retriever).__name__
    if isinstance(found, (str, bytes)) or not hasattr(found, "__iter__"):
        raise TypeError(f"{name}.retrieve() returned {type(found).__name__}, not a list")
    passages: list[Passage] = []
    for item in found:
        if isinstance(item, Passage):
            passages.append(item)
        elif isinstance(item, str):
            passages.append(Passage(item))
        else:
            raise TypeError(
                f"{name}.retrieve() returned a {type(item).__name__} among its passages; "
                "expected Passage or str"
            )
    return [p for p in passages if p.text.strip()]


def _not_in(context: LLMContext, passages: list[Passage]) -> list[Passage]:
    """The passages no knowledge message in ``context`` holds yet."""
    held = [
        content
        for m in context.get_messages()
        if isinstance(m, dict)
        and isinstance(content := m.get("content"), str)
        and content.startswith(KNOWLEDGE_HEADER)
    ]
    return [p for p in passages if not any(f"- {p.text}" in text for text in held)]


def _consume(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()  # a late failure is not an "exception never retrieved" warning


class RetrievalStarter(FrameProcessor):
    """Starts a search on each final transcript; passes every frame on untouched."""

    def __init__(self, run: RetrievalRun) -> None:
        super().__init__(name="RetrievalStarter")
        self._run = run

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TranscriptionFrame):
            query = self._run.on_transcript(frame.text)
            if query is not None:
                # Owned by this processor's task manager, so the pipeline knows of it.
                self._run.searching(query, self.create_task(self._run.retrieve(query), "search"))
        elif isinstance(frame, UserStoppedSpeakingFrame):
            self._run.turn_ended()
        await self.push_frame(frame, direction)

    async def cleanup(self) -> None:
        """Runs when the pipeline stops (EndFrame, CancelFrame or an error): no search
        outlives the session, however slow the knowledge base."""
        self._run.cancel_all()
        await super().cleanup()  # type: ignore[no-untyped-call]  # Pipecat leaves it untyped


class KnowledgeInjector(FrameProcessor):
    """Puts the turn's passages into the context before the LLM sees it, within budget."""

    def __init__(self, run: RetrievalRun) -> None:
        super().__init__(name="KnowledgeInjector")
        self._run = run

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, EagerEndOfTurnCancelFrame):
            self._run.speculation_withdrawn()
        elif isinstance(frame, UserStoppedSpeakingFrame):
            self._run.speculation_kept()  # a withdrawal comes before the turn's end
        if isinstance(frame, LLMContextFrame) and direction == FrameDirection.DOWNSTREAM:
            try:
                await self._run.inject(frame.context, speculation=frame.speculation)
            except Exception as e:  # RAG is an extra: it must never cost the caller a reply
                logger.exception(f"retrieval: injecting passages failed, answering without: {e}")
        await self.push_frame(frame, direction)
