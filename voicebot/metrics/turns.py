"""What happened in each turn of a session: who said what, which tools ran, how long it took.

Built on Pipecat's pieces rather than beside them: transcripts come from the context
aggregators' turn events, timings from ``UserBotLatencyObserver`` (the per-stage breakdown),
tool calls from the function-call frames.

A turn's timeline, from the moment the user went quiet (``t = 0``) to the bot's first audio
(``t = voice_to_voice_secs``), is cut into named stages (``STAGES``). Each stage is one
contribution of Pipecat's breakdown, so the stages and ``pipeline`` (time no stage accounts
for: frame hops, queueing) sum to the voice-to-voice figure.

When is a turn complete? ``TurnLog`` calls its ``on_turn`` hooks once per turn, at the first
of:

- the bot stopped speaking its answer: it has spoken since the last tool result, stopped
  speaking, the assistant aggregator closed its reply, and no tool call is still running;
- the bot's reply was interrupted (the user barged in);
- the next user turn ended (a turn the bot never answered, or a tool that never led to
  speech);
- the session ended.
"""

from __future__ import annotations

import asyncio
import inspect
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from loguru import logger
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    FunctionCallInProgressFrame,
    FunctionCallResultFrame,
    VADUserStartedSpeakingFrame,
)
from pipecat.observers.base_observer import BaseObserver, FramePushed
from pipecat.observers.user_bot_latency_observer import (
    LatencyBreakdown,
    MeasuredFrom,
    UserBotLatencyObserver,
)
from pipecat.processors.frame_processor import FrameDirection


@dataclass(frozen=True)
class Stage:
    """One named stretch of a turn's voice-to-voice time."""

    key: str
    label: str
    meaning: str
    short: str = ""


#: The stages of a turn, in the order they happen. Keys are Pipecat's contribution keys
#: (``LatencyContribution.key``), so they stay stable across Pipecat releases.
STAGES: tuple[Stage, ...] = (
    Stage(
        "endpointing_wait",
        "endpointing wait",
        "silence the VAD must hear before it calls speech over (its stop_secs)",
        "endpoint",
    ),
    Stage(
        "transcription",
        "STT finalization",
        "VAD stop → the final transcript: the STT vendor finalizing what it heard",
        "stt",
    ),
    Stage(
        "turn_detection",
        "turn decision",
        "final transcript → the LLM is asked: the turn strategy deciding the user is done "
        "(a silence timeout, or a smart-turn model's inference)",
        "turn",
    ),
    Stage(
        "llm_inference",
        "LLM first token",
        "the LLM is asked → its first token (time to first token)",
        "llm",
    ),
    Stage(
        "llm_tool_call",
        "LLM tool call",
        "first token → the tool call is dispatched (the model still writing the call)",
        "toolcall",
    ),
    Stage(
        "function_handler",
        "tool",
        "the tool function running",
        "tool",
    ),
    Stage(
        "sentence_aggregation",
        "first sentence",
        "first token → the first whole sentence ready for TTS",
        "sentence",
    ),
    Stage(
        "speech_synthesis",
        "TTS first audio",
        "text sent to TTS → its first audio (TTS time to first byte)",
        "tts",
    ),
    Stage(
        "output_transport",
        "transport",
        "first TTS audio → the output transport starts playing it",
        "transport",
    ),
    Stage(
        "pipeline",
        "pipeline",
        "time no stage accounts for: frame hops and queueing between processors",
        "other",
    ),
)
STAGE_KEYS: tuple[str, ...] = tuple(s.key for s in STAGES)
_STAGE_BY_KEY = {s.key: s for s in STAGES}


def stage_label(key: str) -> str:
    """The human name of a stage key (the key itself for ones voicebot does not know)."""
    stage = _STAGE_BY_KEY.get(key)
    return stage.label if stage else key.replace("_", " ")


def stage_short(key: str) -> str:
    """A column header for a stage key."""
    stage = _STAGE_BY_KEY.get(key)
    return stage.short if stage else key


@dataclass
class ToolCallRecord:
    name: str
    call_id: str
    arguments: Any
    result: Any = None
    finished: bool = False


@dataclass
class StageSpan:
    """One stage of one turn, placed on the turn's timeline.

    ``start_secs`` counts from the moment the user went quiet; ``owner`` is what spent the
    time (a processor such as ``ScriptedLLMService#0``, or ``config: VAD stop_secs``).
    A stage can appear twice in a turn (the LLM runs again after a tool call).
    """

    key: str
    start_secs: float
    secs: float
    owner: str = ""


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


@dataclass
class TurnRecord:
    """One exchange: the user's words (empty for a greeting) and the bot's answer.

    ``voice_to_voice_secs`` is measured inside the bot (from the moment the user went quiet
    to the first bot audio leaving the pipeline); ``stages`` names where that time went,
    summed per stage key, and ``spans`` places each stage on the turn's timeline.
    ``caller_voice_to_voice_secs`` is read off the caller's audio when there is a caller
    recording (the WAV transport), and so includes the transport.

    Times ending in ``_at`` are Unix timestamps (``time.time()``) on the bot's clock:
    ``user_started_at`` / ``user_stopped_at`` when the user started talking and went quiet,
    ``bot_started_at`` / ``bot_stopped_at`` when the bot's audio started and stopped,
    ``completed_at`` when the turn was handed to the ``on_turn`` hooks.
    """

    index: int
    user_text: str = ""
    bot_text: str = ""
    interrupted: bool = False
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    voice_to_voice_secs: float | None = None
    stages: dict[str, float] = field(default_factory=dict)
    caller_voice_to_voice_secs: float | None = None
    session_id: str = ""
    spans: list[StageSpan] = field(default_factory=list)
    user_started_at: float | None = None
    user_stopped_at: float | None = None
    bot_started_at: float | None = None
    bot_stopped_at: float | None = None
    completed_at: float | None = None
    # RAG (``Bot(retrieval=...)``): the search for this turn, its time and whether it made it.
    retrieval: RetrievalRecord | None = None

    # ---- named stages ----------------------------------------------------------------------
    # Each is None when the turn's latency was not measured, and 0.0 when it was but the
    # stage took no measurable time (Pipecat rolls stretches under 5 ms into ``pipeline``).

    def stage_secs(self, key: str) -> float | None:
        """Seconds spent in stage ``key`` (see ``STAGES``) this turn."""
        if self.voice_to_voice_secs is None:
            return None
        return self.stages.get(key, 0.0)

    @property
    def endpointing_wait_secs(self) -> float | None:
        """Silence the VAD waited out before calling speech over (its ``stop_secs``)."""
        return self.stage_secs("endpointing_wait")

    @property
    def stt_finalization_secs(self) -> float | None:
        """VAD stop → final transcript: the STT vendor finalizing."""
        return self.stage_secs("transcription")

    @property
    def turn_decision_secs(self) -> float | None:
        """Final transcript → LLM asked: the turn strategy (timeout or smart-turn model)."""
        return self.stage_secs("turn_detection")

    @property
    def llm_ttft_secs(self) -> float | None:
        """LLM asked → first token, summed over the turn's LLM runs (a tool call adds one)."""
        return self.stage_secs("llm_inference")

    @property
    def first_sentence_secs(self) -> float | None:
        """First token → first whole sentence ready for TTS."""
        return self.stage_secs("sentence_aggregation")

    @property
    def tts_first_audio_secs(self) -> float | None:
        """Text to TTS → its first audio."""
        return self.stage_secs("speech_synthesis")

    @property
    def transport_secs(self) -> float | None:
        """First TTS audio → the output transport playing it."""
        return self.stage_secs("output_transport")

    @property
    def tools_secs(self) -> float | None:
        """The model writing tool calls plus the tools running."""
        if self.voice_to_voice_secs is None:
            return None
        return self.stages.get("llm_tool_call", 0.0) + self.stages.get("function_handler", 0.0)

    @property
    def pipeline_secs(self) -> float | None:
        """Time no stage accounts for: frame hops and queueing."""
        return self.stage_secs("pipeline")

    # ---- serialization ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TurnRecord:
        """The inverse of ``to_dict`` (one line of a turns JSONL file); unknown keys are
        ignored, so files from newer versions still load."""
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        values["tool_calls"] = [ToolCallRecord(**c) for c in values.get("tool_calls") or []]
        values["spans"] = [StageSpan(**s) for s in values.get("spans") or []]
        values["stages"] = dict(values.get("stages") or {})
        if values.get("retrieval"):
            values["retrieval"] = RetrievalRecord(**values["retrieval"])
        return cls(**values)


#: Called with each completed turn; may be a plain function or a coroutine function.
TurnHook = Callable[[TurnRecord], Awaitable[None] | None]
#: Called once when the session ends.
CloseHook = Callable[[], Awaitable[None] | None]


class TurnLog(BaseObserver):
    """Collects ``TurnRecord``s for a session; attach with ``TurnLog.attach``.

    ``on_turn(hook)`` registers a hook called with each completed turn (see the module
    docstring for when a turn is complete). Hooks run on the session's event loop, in the
    order registered; an exception in one is logged and does not reach the pipeline.
    """

    def __init__(self, session_id: str | None = None) -> None:
        # Each frame once (its first push), not once per processor hop: this observer only
        # needs to know that a frame happened.
        super().__init__(observe_every_push=False)
        self.session_id = session_id or uuid.uuid4().hex
        self.turns: list[TurnRecord] = []
        self.latency_observer = UserBotLatencyObserver()
        self.latency_observer.add_event_handler("on_latency_breakdown", self._on_breakdown)
        self._calls: dict[str, ToolCallRecord] = {}
        self._turn_hooks: list[TurnHook] = []
        self._close_hooks: list[CloseHook] = []
        self._start_hooks: list[CloseHook] = []
        self._closed = False
        # What happened since the current turn began (reset with each new user turn).
        self._bot_speaking = False
        self._spoke_at: float | None = None  # last BotStartedSpeaking
        self._assistant_done_at: float | None = None  # last on_assistant_turn_stopped
        self._last_tool_at: float | None = None  # last tool call started or finished
        self._user_started_at: float | None = None  # pending, for the next user turn
        self._pending_retrieval: RetrievalRecord | None = None  # for the next user turn

    # ---- wiring ----------------------------------------------------------------------------

    def attach(self, user_aggregator: Any, assistant_aggregator: Any) -> None:
        user_aggregator.add_event_handler("on_user_turn_stopped", self._on_user_turn_stopped)
        assistant_aggregator.add_event_handler(
            "on_assistant_turn_stopped", self._on_assistant_turn_stopped
        )

    @property
    def observers(self) -> list[BaseObserver]:
        """Observers to give a ``PipelineWorker`` you build yourself: this log alone (it
        forwards frames to its ``UserBotLatencyObserver``). ``install`` is cheaper."""
        return [self]

    def install(self, worker: Any) -> None:
        """Watch ``worker``'s frames, handing this log only the frame types it acts on.

        Pipecat gives each observer every processor's every frame through a queue and a
        task wake-up (``WorkerObserver``): with 50 audio frames a second crossing every
        processor, that costs a session ~10% more CPU for frames a turn log ignores. So the
        worker's ``WorkerObserver`` is wrapped (other observers still get everything) and
        only the frames named in ``WATCHED`` are queued for this log, first pushes only,
        exactly as an observer with ``observe_every_push=False`` would see them.
        """
        inner = getattr(worker, "_observer", None)
        if inner is None or not hasattr(inner, "on_push_frame"):
            worker.add_observer(self)  # a Pipecat without the hook: the plain way
            return
        worker._observer = _WatchedFrames(inner, self)

    def on_turn(self, hook: TurnHook) -> TurnHook:
        """Call ``hook(turn)`` with each completed turn. Usable as a decorator."""
        self._turn_hooks.append(hook)
        return hook

    def on_start(self, hook: CloseHook) -> CloseHook:
        """Call ``hook()`` once the pipeline has started."""
        self._start_hooks.append(hook)
        return hook

    def on_close(self, hook: CloseHook) -> CloseHook:
        """Call ``hook()`` once the session has ended (after the last turn's hooks)."""
        self._close_hooks.append(hook)
        return hook

    async def close(self) -> None:
        """Complete the turn in progress, if any, then run the close hooks. Idempotent.

        ``Session.run`` calls it when the pipeline has finished; call it yourself after
        running a worker you built with this log."""
        if self._closed:
            return
        self._closed = True
        if self.turns and self.turns[-1].completed_at is None:
            await self._complete(self.turns[-1])
        for hook in self._close_hooks:
            await _call(hook)

    def add_retrieval(self, record: RetrievalRecord) -> None:
        """File a turn's retrieval outcome on the turn whose words were searched.

        The retrieval stage sees the turn's context frame at about the time the user
        aggregator reports the turn, in either order: a record with no matching turn yet
        waits for the next one."""
        turn = self.turns[-1] if self.turns else None
        if turn and turn.retrieval is None and _same_words(turn.user_text, record.query):
            turn.retrieval = record
        else:
            self._pending_retrieval = record

    # ---- events ----------------------------------------------------------------------------

    def _current(self) -> TurnRecord:
        if not self.turns:
            self.turns.append(TurnRecord(index=0, session_id=self.session_id))
        return self.turns[-1]

    async def _on_user_turn_stopped(self, _aggregator: Any, _strategy: Any, message: Any) -> None:
        if self.turns and self.turns[-1].completed_at is None:
            await self._complete(self.turns[-1])
        text = (getattr(message, "content", None) or "").strip()
        self.turns.append(
            TurnRecord(
                index=len(self.turns),
                user_text=text,
                session_id=self.session_id,
                user_started_at=self._user_started_at,
            )
        )
        self._user_started_at = None
        self._spoke_at = self._assistant_done_at = self._last_tool_at = None
        if self._pending_retrieval is not None:
            self.turns[-1].retrieval, self._pending_retrieval = self._pending_retrieval, None

    async def _on_assistant_turn_stopped(self, _aggregator: Any, message: Any) -> None:
        turn = self._current()
        text = (getattr(message, "content", None) or "").strip()
        if text:
            turn.bot_text = f"{turn.bot_text} {text}".strip()
        interrupted = bool(getattr(message, "interrupted", False))
        turn.interrupted = turn.interrupted or interrupted
        self._assistant_done_at = time.time()
        if interrupted and turn.completed_at is None:
            await self._complete(turn)
        else:
            await self._maybe_complete()

    async def _on_breakdown(self, _observer: Any, breakdown: LatencyBreakdown) -> None:
        turn = self._current()
        if turn.voice_to_voice_secs is not None or breakdown.measured_from is None:
            return
        if (breakdown.measured_from == MeasuredFrom.USER_SILENCE) != bool(turn.user_text):
            return  # a greeting's timing never lands on a user turn, nor the reverse
        turn.voice_to_voice_secs = breakdown.total_secs
        anchor = breakdown.user_turn_start_time
        if anchor is None and breakdown.contributions:
            anchor = min(c.start_time for c in breakdown.contributions)
        turn.user_stopped_at = breakdown.user_turn_start_time
        stages: dict[str, float] = {}
        spans: list[StageSpan] = []
        for c in breakdown.contributions:
            stages[c.key] = stages.get(c.key, 0.0) + c.duration_secs
            # Pipecat dates ``pipeline`` from the turn's start: it is spread over the gaps
            # between the other stages rather than sitting anywhere.
            start = c.start_time - anchor if anchor is not None else 0.0
            spans.append(StageSpan(c.key, start, c.duration_secs, c.owner))
        turn.stages = stages
        turn.spans = spans

    async def on_push_frame(self, data: FramePushed) -> None:
        await self.latency_observer.on_push_frame(data)
        frame = data.frame
        if isinstance(frame, FunctionCallInProgressFrame):
            self._last_tool_at = time.time()
            if frame.tool_call_id not in self._calls:
                record = ToolCallRecord(frame.function_name, frame.tool_call_id, frame.arguments)
                self._calls[frame.tool_call_id] = record
                self._current().tool_calls.append(record)
        elif isinstance(frame, FunctionCallResultFrame):
            self._last_tool_at = time.time()
            found = self._calls.get(frame.tool_call_id)
            if found is not None and not found.finished:
                found.result = frame.result
                found.finished = True
        elif data.direction != FrameDirection.DOWNSTREAM:
            return
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            if self._user_started_at is None:
                self._user_started_at = frame.timestamp - frame.start_secs
        elif isinstance(frame, BotStartedSpeakingFrame):
            self._bot_speaking = True
            self._spoke_at = time.time()
            if self._current().bot_started_at is None:
                self._current().bot_started_at = self._spoke_at
        elif isinstance(frame, BotStoppedSpeakingFrame):
            self._bot_speaking = False
            if self.turns:
                self.turns[-1].bot_stopped_at = time.time()
            await self._maybe_complete()

    async def on_pipeline_started(self) -> None:
        await self.latency_observer.on_pipeline_started()
        for hook in self._start_hooks:
            await _call(hook)

    # ---- completion ------------------------------------------------------------------------

    async def _maybe_complete(self) -> None:
        if not self.turns or self.turns[-1].completed_at is not None:
            return
        turn = self.turns[-1]
        spoke = self._spoke_at is not None and (
            self._last_tool_at is None or self._spoke_at > self._last_tool_at
        )
        replied = self._assistant_done_at is not None and (
            self._spoke_at is not None and self._assistant_done_at >= self._spoke_at
        )
        tools_done = all(c.finished for c in turn.tool_calls)
        if spoke and replied and tools_done and not self._bot_speaking:
            await self._complete(turn)

    async def _complete(self, turn: TurnRecord) -> None:
        turn.completed_at = time.time()
        if turn.bot_started_at is not None and turn.bot_stopped_at is None:
            turn.bot_stopped_at = turn.completed_at
        for hook in self._turn_hooks:
            await _call(hook, turn)

    # ---- summaries -------------------------------------------------------------------------

    def user_turns(self) -> list[TurnRecord]:
        return [t for t in self.turns if t.user_text]


def _watched_frames() -> tuple[type, ...]:
    """The frame types ``UserBotLatencyObserver`` acts on (its module imports exactly those),
    and the ones ``TurnLog`` acts on."""
    from pipecat.frames.frames import Frame
    from pipecat.observers import user_bot_latency_observer

    theirs = {
        v
        for v in vars(user_bot_latency_observer).values()
        if isinstance(v, type) and issubclass(v, Frame)
    }
    ours = {
        BotStartedSpeakingFrame,
        BotStoppedSpeakingFrame,
        FunctionCallInProgressFrame,
        FunctionCallResultFrame,
        VADUserStartedSpeakingFrame,
    }
    return tuple(theirs | ours)


#: Frames a ``TurnLog`` installed on a worker gets to see.
WATCHED: tuple[type, ...] = _watched_frames()
_STARTED = object()


class _WatchedFrames:
    """A worker's ``WorkerObserver``, plus a filtered feed of frames for one ``TurnLog``.

    Everything the worker calls goes to the wrapped observer as before. First pushes of
    ``WATCHED`` frames are also queued for the turn log, which handles them in its own
    task, off the pipeline's path, like a Pipecat observer proxy.
    """

    def __init__(self, inner: Any, log: TurnLog) -> None:
        self._inner = inner
        self._log = log
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._seen: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
        self._task: asyncio.Task[None] | None = None
        self._task_manager: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def setup(self, task_manager: Any) -> None:
        await self._inner.setup(task_manager)
        self._task_manager = task_manager
        self._task = task_manager.create_task(self._run(), f"{self._log}::frames")

    async def cleanup(self) -> None:
        if self._task is not None:
            await self._task_manager.cancel_task(self._task)
            self._task = None
        await self._inner.cleanup()

    async def on_pipeline_started(self) -> None:
        await self._inner.on_pipeline_started()
        self._queue.put_nowait(_STARTED)

    async def on_push_frame(self, data: FramePushed) -> None:
        await self._inner.on_push_frame(data)
        frame = data.frame
        if isinstance(frame, WATCHED) and frame.id not in self._seen:
            self._seen[frame.id] = frame
            self._queue.put_nowait(data)

    async def _run(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                if item is _STARTED:
                    await self._log.on_pipeline_started()
                else:
                    await self._log.on_push_frame(item)
            except Exception as e:
                logger.opt(exception=e).error(f"{self._log}: {e}")


async def _call(hook: Callable[..., Any], *args: Any) -> None:
    try:
        result = hook(*args)
        if inspect.isawaitable(result):
            await result
    except Exception as e:
        logger.opt(exception=e).error(f"voicebot: turn hook {hook!r} raised {e}")


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0-100), interpolated between neighbours; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * min(max(q, 0.0), 100.0) / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _same_words(user_text: str, query: str) -> bool:
    """Whether a retrieval query was made from this user text (a short follow-up's query
    also carries the previous turn's words in front)."""
    words = user_text.lower().split()
    return bool(words) and query.lower().split()[-len(words) :] == words
