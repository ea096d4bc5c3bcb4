"""``Memory``: what a bot remembers, within a call and across calls.

Three levels:

- **User memory** (across calls): facts about the caller in a ``MemoryStore``, keyed by
  user id. At session start they go into the LLM context as a developer note; during the
  call the model adds facts with the built-in ``remember(fact)`` tool; at the end an
  optional ``extract`` function may add more from the transcript, and the transcript is
  saved.
- **Immediate** (``recent_turns``): the last exchanges stay in the context word for word.
- **Session** (``summarize_after``): once the call is longer, older exchanges are folded
  into a summary by Pipecat's ``LLMContextSummarizer`` (which never separates a tool call
  from its result). The summary is written by the bot's own LLM when it can run
  out-of-band inferences (``run_inference``), otherwise by ``NoteSummaryLLM``: a
  deterministic, offline note of the older lines, trimmed to fit.
"""

from __future__ import annotations

import inspect
import json
import re
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal

from loguru import logger
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.services.llm_service import LLMService
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from voicebot.context_notes import NOTE_HEADER, is_note_line
from voicebot.errors import ConfigError, from_validation_error
from voicebot.memory.store import MemoryStore, TranscriptEntry, clean_fact
from voicebot.providers.base import llm_settings
from voicebot.tools.tool import Tool, tool

if TYPE_CHECKING:
    from pipecat.utils.context.llm_context_summarization import (
        LLMAutoContextSummarizationConfig,
    )

    from voicebot.metrics.records import TurnRecord

SUMMARY_TEMPLATE = "Summary of the earlier part of this call: {summary}"
REMEMBER_DESCRIPTION = (
    "Remember a lasting fact about the caller for their future calls, such as their name, "
    "preferences or circumstances. Call it when the caller tells you something worth "
    "knowing next time; one short sentence per fact."
)

_ROLE_LINE = re.compile(r"^[A-Z_]+: ")
_STORE_METHODS = (
    "get_facts",
    "put_fact",
    "append_transcript",
    "read_transcripts",
    "forget",
    "close",
)

#: ``extract(transcript)`` returns facts (or an awaitable of them) to remember at the end.
Extractor = Callable[[list[TranscriptEntry]], Any]


class Memory(BaseModel):
    """How a bot remembers: ``Bot(memory=Memory(store=SQLiteStore("memory.db")))``.

    - ``store``: where user facts and transcripts live (``SQLiteStore``, ``RedisStore`` or
      anything with the ``MemoryStore`` methods).
    - ``user_id``: whose memory; ``bot.session(user_id=...)`` overrides it per call.
    - ``recent_turns`` / ``summarize_after``: keep the last ``recent_turns`` exchanges
      verbatim, and summarize older ones once more than ``summarize_after`` exchanges have
      piled up since the last summary (an exchange counts as two context messages).
      Setting either turns summarization on.
    - ``summarizer``: ``"llm"`` (the bot's LLM writes the summary), ``"note"`` (the offline
      ``NoteSummaryLLM``) or ``"auto"`` (the LLM when it supports ``run_inference``).
    - ``remember_tool``: offer the model ``remember(fact)``.
    - ``extract``: called with the transcript at the end of a call; the facts it returns
      are stored.
    - ``save_transcript``: store each call's transcript.
    - ``max_facts``: the most recent facts put into the context at session start.
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, frozen=True)

    store: Any
    user_id: str | None = None
    recent_turns: int | None = Field(default=None, ge=1)
    summarize_after: int | None = Field(default=None, ge=1)
    summarizer: Literal["auto", "llm", "note"] = "auto"
    remember_tool: bool = True
    extract: Extractor | None = None
    save_transcript: bool = True
    max_facts: int = Field(default=50, ge=1)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as e:
            raise from_validation_error("Memory", e) from None

    @field_validator("store")
    @classmethod
    def _is_store(cls, value: Any) -> Any:
        if not isinstance(value, MemoryStore):
            missing = [m for m in _STORE_METHODS if not callable(getattr(value, m, None))]
            lacking = f" (it has no {', '.join(missing)})" if missing and len(missing) < 6 else ""
            raise ConfigError(
                f"Memory(store=...) needs a MemoryStore (SQLiteStore, RedisStore, ...), "
                f"not {type(value).__name__}{lacking}"
            )
        return value

    @model_validator(mode="after")
    def _check_levels(self) -> Memory:
        if (
            self.recent_turns is not None
            and self.summarize_after is not None
            and self.summarize_after <= self.recent_turns
        ):
            raise ConfigError(
                f"Memory(summarize_after={self.summarize_after}) must be more than "
                f"recent_turns={self.recent_turns}: the recent turns are kept word for word, "
                "so only turns beyond them can be summarized"
            )
        return self

    @property
    def summarizes(self) -> bool:
        return self.recent_turns is not None or self.summarize_after is not None

    def summarization_config(self, llm: Any) -> LLMAutoContextSummarizationConfig | None:
        """Pipecat's auto-summarization settings for a session whose LLM is ``llm``."""
        if not self.summarizes:
            return None
        from pipecat.utils.context.llm_context_summarization import (
            LLMAutoContextSummarizationConfig,
            LLMContextSummaryConfig,
        )

        recent = self.recent_turns if self.recent_turns is not None else 3
        after = self.summarize_after if self.summarize_after is not None else 2 * recent
        use_llm = self.summarizer == "llm" or (
            self.summarizer == "auto" and supports_run_inference(llm)
        )
        return LLMAutoContextSummarizationConfig(
            max_context_tokens=None,
            max_unsummarized_messages=2 * after,
            summary_config=LLMContextSummaryConfig(
                target_context_tokens=400,
                min_messages_after_summary=2 * recent,
                summary_message_template=SUMMARY_TEMPLATE,
                llm=None if use_llm else NoteSummaryLLM(),
                summarization_timeout=30.0,
            ),
        )

    async def forget(self, user_id: str) -> int:
        """Delete everything the store holds about ``user_id`` (facts and transcripts), e.g.
        when a caller asks to be forgotten; how many facts and transcript entries there were.
        A session of that user still running saves its transcript when it ends."""
        return int(await self.store.forget(user_id))

    def for_session(self, user_id: str | None = None) -> MemorySession:
        chosen = user_id or self.user_id
        if not chosen:
            raise ConfigError(
                "Memory needs to know whose memory it is: pass bot.session(user_id=...) "
                "or Memory(user_id=...)"
            )
        return MemorySession(self, chosen)


def supports_run_inference(llm: Any) -> bool:
    """Whether a Pipecat LLM service implements out-of-band inference."""
    method = getattr(type(llm), "run_inference", None)
    return method is not None and method is not LLMService.run_inference


class NoteSummaryLLM(LLMService):
    """An offline, deterministic "summarizer" for Pipecat's context summarization.

    It writes no prose: it keeps each older line of the conversation (role and text,
    shortened to ``line_chars``), drops the memory note, and keeps the newest lines that
    fit the summary's token budget (4 characters a token, as Pipecat estimates).
    """

    def __init__(self, *, line_chars: int = 160) -> None:
        super().__init__(settings=llm_settings("note-summary"))
        self._line_chars = line_chars

    async def run_inference(
        self,
        context: LLMContext,
        max_tokens: int | None = None,
        system_instruction: str | None = None,
        response_schema: dict[str, Any] | None = None,
    ) -> str | None:
        text = "\n".join(
            str(m.get("content", "")) for m in context.get_messages() if isinstance(m, dict)
        )
        return note_summary(text, max_chars=(max_tokens or 400) * 4, line_chars=self._line_chars)


def note_summary(transcript: str, *, max_chars: int, line_chars: int = 160) -> str:
    """The deterministic summary of a Pipecat summary transcript (``ROLE: text`` lines)."""
    lines: list[str] = []
    in_note = False  # a note's "- fact" lines follow its header
    for raw in transcript.splitlines():
        line = raw.strip()
        # The memory note stays on top anyway; knowledge passages are looked up again when
        # needed: neither belongs in a summary of what was said.
        if is_note_line(line):
            in_note = True
            continue
        if in_note and _ROLE_LINE.match(line):
            in_note = False
        if in_note or not line or line == "Conversation history:":
            continue
        if len(line) > line_chars:
            line = line[: line_chars - 1] + "…"
        lines.append(line)
    kept: list[str] = []
    size = 0
    for line in reversed(lines):
        if size + len(line) + 1 > max_chars:
            break
        kept.append(line)
        size += len(line) + 1
    kept.reverse()
    dropped = len(lines) - len(kept)
    head = f"({dropped} earlier lines left out) " if dropped else ""
    return head + " | ".join(kept)


class MemorySession:
    """One session's view of ``Memory``: its user, the facts loaded, the ``remember`` tool,
    the summary so far."""

    def __init__(self, memory: Memory, user_id: str) -> None:
        self.memory = memory
        self.user_id = user_id
        self.store: MemoryStore = memory.store
        self.facts: list[str] = []  # loaded at session start
        self.learned: list[str] = []  # remembered or extracted during this session
        self.summary: str | None = None
        self.tools: tuple[Tool, ...] = (self._remember_tool(),) if memory.remember_tool else ()
        self._note: dict[str, Any] | None = None
        self._finished = False

    # ---- facts -----------------------------------------------------------------------------

    def _remember_tool(self) -> Tool:
        async def remember(fact: str) -> str:
            await self.learn(fact)
            return "Remembered."

        return tool(name="remember", description=REMEMBER_DESCRIPTION, filler=None)(remember)

    async def learn(self, fact: str) -> bool:
        """Store a fact about this session's user; ``False`` if it was known already."""
        text = clean_fact(fact)
        added = await self.store.put_fact(self.user_id, text)
        if text not in self.learned and text not in self.facts:
            self.learned.append(text)
        return added

    @property
    def all_facts(self) -> list[str]:
        return [*self.facts, *(f for f in self.learned if f not in self.facts)]

    def note(self) -> dict[str, Any] | None:
        """The developer message that carries the user's facts into the context."""
        if not self.facts:
            return None
        lines = "\n".join(f"- {f}" for f in self.facts[-self.memory.max_facts :])
        return {"role": "developer", "content": f"{NOTE_HEADER}\n{lines}"}

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self, context: LLMContext) -> None:
        """Load the user's facts and put them at the top of the context."""
        try:
            self.facts = await self.store.get_facts(self.user_id)
        except Exception as e:  # a memory outage must not stop the call
            logger.error(f"memory: could not load the facts of user {self.user_id}: {e}")
            self.facts = []
        self._note = self.note()
        if self._note is not None:
            with_note: list[Any] = [self._note, *context.get_messages()]
            context.set_messages(with_note)
        logger.debug(f"memory: {len(self.facts)} facts loaded for user {self.user_id}")

    def attach(self, assistant_aggregator: Any, context: LLMContext) -> None:
        """Follow Pipecat's summaries: keep the latest, and keep the memory note on top."""

        async def on_summary_applied(aggregator: Any, summarizer: Any, event: Any) -> None:
            messages = list(context.get_messages())
            prefix = SUMMARY_TEMPLATE.split("{summary}")[0]
            for m in messages:
                content = m.get("content") if isinstance(m, dict) else None
                if isinstance(content, str) and content.startswith(prefix):
                    self.summary = content[len(prefix) :]
            if self._note is not None and self._note not in messages:
                with_note: list[Any] = [self._note, *messages]
                context.set_messages(with_note)

        assistant_aggregator.add_event_handler("on_summary_applied", on_summary_applied)

    async def finish(self, turns: list[TurnRecord], session_id: str) -> None:
        """Save the transcript and run ``extract``; failures are logged, never raised."""
        if self._finished:
            return
        self._finished = True
        entries = transcript(turns)
        if self.memory.save_transcript and entries:
            try:
                await self.store.append_transcript(self.user_id, session_id, entries)
            except Exception as e:
                logger.error(f"memory: could not save the transcript of {session_id}: {e}")
        if self.memory.extract is not None and entries:
            try:
                found = self.memory.extract(entries)
                if inspect.isawaitable(found):
                    found = await found
                for fact in found or ():
                    await self.learn(fact)
            except Exception as e:
                logger.error(f"memory: extracting facts from {session_id} failed: {e}")

    def handoff(self, turns: list[TurnRecord], session_id: str) -> dict[str, Any]:
        """What a human (or another bot) taking over the call needs, as JSON-able data."""
        entries = transcript(turns)
        package = {
            "session_id": session_id,
            "user_id": self.user_id,
            "created_at": time.time(),
            "transcript": entries,
            "summary": self.summary,
            "user_memory": {"facts": self.all_facts, "learned_this_call": list(self.learned)},
            "tool_calls": [e for e in entries if e["role"] == "tool"],
        }
        safe: dict[str, Any] = json_safe(package)
        return safe


def transcript(turns: Iterable[TurnRecord]) -> list[TranscriptEntry]:
    """A session's turns as transcript entries: user, tool and assistant lines in order."""
    out: list[TranscriptEntry] = []
    for t in turns:
        if t.user_text:
            out.append({"role": "user", "text": t.user_text})
        for c in t.tool_calls:
            out.append(
                {
                    "role": "tool",
                    "name": c.name,
                    "call_id": c.call_id,
                    "arguments": c.arguments,
                    "result": c.result,
                    "finished": c.finished,
                }
            )
        if t.bot_text:
            entry: TranscriptEntry = {"role": "assistant", "text": t.bot_text}
            if t.interrupted:
                entry["interrupted"] = True
            out.append(entry)
    safe: list[dict[str, Any]] = json_safe(out)
    return safe


def json_safe(value: Any) -> Any:
    """``value`` with anything JSON cannot hold turned into text."""
    return json.loads(json.dumps(value, default=str))
