"""``TurnLog``: the observer that writes one ``TurnRecord`` per turn of a running session.

Built on Pipecat's pieces rather than beside them: transcripts come from the context
aggregators' turn events, timings from ``UserBotLatencyObserver`` (the per-stage breakdown),
tool calls from the function-call frames. A turn's id and its texts (what the bot said, what
the caller heard) are the session's ``ConversationState``'s (``voicebot.conversation``):
``TurnRecord.index`` is the state's ``Turn.id`` (0 is the greeting, N the caller's Nth turn),
``bot_text`` its ``heard`` and ``said_text`` its ``said``. A log written without a feed
(``observers``) sees the frames a queue hop after the aggregators' events, so it numbers
turns itself and takes the bot's words from the assistant aggregator's event.

The stage names are in ``stages.py``, the record types in ``records.py``. (Over ~400 lines:
one writer of the records, fed by five event sources; split, their ordering would be shared.)

When is a turn complete? ``TurnLog`` calls its ``on_turn`` hooks once per turn, at the first
of:

- the bot stopped speaking its answer: it has spoken since the last tool result, stopped
  speaking, the assistant aggregator closed its reply, and no tool call is still running;
- the bot's reply was interrupted (the user barged in);
- (marked ``interrupted``, completed at the next user turn's end) the caller spoke again
  before the answer was done, even before a word of it was heard: a slow LLM's answer that
  the caller's next question cancelled;
- the next user turn ended (a turn the bot never answered, or a tool that never led to
  speech);
- the session ended.

Slightly over the project's ~400 lines: the turn record's every field is filled here, so
one reader can check them together.
"""

from __future__ import annotations

import inspect
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from loguru import logger
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    FunctionCallInProgressFrame,
    FunctionCallResultFrame,
    InterruptionFrame,
    VADUserStartedSpeakingFrame,
)
from pipecat.observers.base_observer import BaseObserver, FramePushed
from pipecat.observers.user_bot_latency_observer import (
    LatencyBreakdown,
    MeasuredFrom,
    UserBotLatencyObserver,
)
from pipecat.processors.frame_processor import FrameDirection

from voicebot.conversation.feed import ConversationFeed
from voicebot.conversation.state import ConversationState
from voicebot.conversation.turn import Turn
from voicebot.knowledge.record import RetrievalRecord
from voicebot.metrics.records import StageSpan, ToolCallRecord, TurnRecord
from voicebot.metrics.retrieval_filing import RetrievalFiling

#: A handler queued into the feed's task.
Posted = Callable[..., Any]
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
        #: Calls an interruption cancels (blocking ones): the answer waits on them.
        self._answer_calls: set[str] = set()
        self._turn_hooks: list[TurnHook] = []
        self._close_hooks: list[CloseHook] = []
        self._start_hooks: list[CloseHook] = []
        self._closed = False
        #: Whether the bot is speaking: the session's state once ``listen`` gave it, else this
        #: log's own, fed the frames it observes.
        self.conversation = ConversationState()
        self._feed: ConversationFeed | None = None
        # What happened since the current turn began (reset with each new user turn).
        self._spoke_at: float | None = None  # last BotStartedSpeaking
        self._assistant_done_at: float | None = None  # last on_assistant_turn_stopped
        self._last_tool_at: float | None = None  # last tool call started or finished
        self._user_started_at: float | None = None  # pending, for the next user turn
        self._retrievals = RetrievalFiling()
        #: The state's turn behind each recent record (by ``TurnRecord.index``).
        self._turn_of: dict[int, Turn] = {}
        #: Switches filed for a turn whose record is not open yet (by ``TurnRecord.index``).
        self._early_failovers: dict[int, list[dict[str, Any]]] = {}

    # ---- wiring ----------------------------------------------------------------------------

    def attach(self, user_aggregator: Any, assistant_aggregator: Any) -> None:
        """Take the turns' texts from the context aggregators' events. Those handlers run in
        the aggregators' tasks: with a feed (``listen``) they are queued into its one task,
        behind the frames that came before them, so records are written in order."""

        async def user_turn_stopped(*args: Any) -> None:
            # The aggregator reports the turn right after pushing its UserStoppedSpeakingFrame,
            # which a feed has applied already: the state's turn is this one.
            # Read now: the strategy's counts move on with the next turn.
            counts = getattr(args[1] if len(args) > 1 else None, "last_turn", None)
            speculation = counts.to_dict() if counts is not None else None
            await self._in_order(
                self._on_user_turn_stopped, self.conversation.turn, speculation, *args
            )

        async def assistant_turn_stopped(*args: Any) -> None:
            await self._in_order(self._on_assistant_turn_stopped, *args)

        user_aggregator.add_event_handler("on_user_turn_stopped", user_turn_stopped)
        assistant_aggregator.add_event_handler("on_assistant_turn_stopped", assistant_turn_stopped)

    def listen(self, feed: ConversationFeed) -> None:
        """Write this log from ``feed``: its session's state, frames and order."""
        self._feed = feed
        self.conversation = feed.state
        feed.listen(self, WATCHED)

    @property
    def listening(self) -> bool:
        """Whether a feed writes this log (``listen`` or ``install`` was called)."""
        return self._feed is not None

    @property
    def observers(self) -> list[BaseObserver]:
        """Observers to give a ``PipelineWorker`` you build yourself: this log alone (it
        forwards frames to its ``UserBotLatencyObserver``). ``install`` is cheaper."""
        return [self]

    def install(self, worker: Any) -> None:
        """Watch ``worker``'s frames through a ``ConversationFeed`` of its own (a worker built
        without a ``Session``; a session gives its feed to ``listen`` instead)."""
        feed = ConversationFeed(ConversationState())
        self.listen(feed)
        feed.install(worker)

    async def _in_order(self, call: Posted, *args: Any) -> None:
        if self._feed is not None:
            self._feed.post(call, *args)
        else:
            await call(*args)

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
        if self._feed is not None:
            await self._feed.drain()  # events the ended pipeline left queued
        for early in self._early_failovers.values():  # their turn never got its record
            self._current().failovers.extend(early)
        self._early_failovers.clear()
        self._sync_texts()
        if self.turns and self.turns[-1].completed_at is None:
            await self._complete(self.turns[-1])
        for hook in self._close_hooks:
            await _call(hook)

    def add_retrieval(self, record: RetrievalRecord) -> None:
        """File a turn's retrieval outcome on its turn: the state's turn now (see
        ``voicebot.metrics.retrieval_filing``). Queued behind the events before it when
        there is a feed."""
        turn_id = self.conversation.turn_id
        if self._feed is not None:
            self._feed.post(self._retrievals.file, self.turns, record, turn_id)
        else:
            self._retrievals.file(self.turns, record, turn_id)

    def add_failover(self, event: Any) -> None:
        """File a stage's switch (a ``voicebot.failover`` ``FailoverEvent``) on the turn
        under way, behind the events before it when there is a feed."""
        turn_id = self.conversation.turn_id
        if self._feed is not None:
            self._feed.post(self._file_failover, turn_id, event.to_dict())
        else:
            self._file_failover(turn_id, event.to_dict())

    def _file_failover(self, turn_id: int, data: dict[str, Any]) -> None:
        record = next((t for t in reversed(self.turns) if t.index == turn_id), None)
        if record is None and self.turns and turn_id > self.turns[-1].index:
            # The turn has begun but the aggregator's report of it (which opens its record)
            # is still on its way: an STT switch is filed as the caller's turn ends.
            self._early_failovers.setdefault(turn_id, []).append(data)
            return
        (record or self._current()).failovers.append(data)

    # ---- events ----------------------------------------------------------------------------

    def _current(self) -> TurnRecord:
        if not self.turns:
            opening = self.conversation.turn_by_id(0)  # the state may be turns ahead
            self._open(TurnRecord(index=0, session_id=self.session_id), opening)
        return self.turns[-1]

    def _open(self, record: TurnRecord, turn: Turn | None) -> None:
        """Start ``record``, the record of the state's ``turn`` (when its id is the record's)."""
        self.turns.append(record)
        if turn is not None and turn.id == record.index and self._feed is not None:
            self._turn_of[record.index] = turn
            for old in [i for i in self._turn_of if i < record.index - 2]:
                del self._turn_of[old]  # records that far back take no more words

    def _sync_texts(self) -> None:
        """Copy the recent records' texts from their turns in the state (which a feed keeps
        ahead of this log: whatever the state has, this turn has had)."""
        for record in self.turns[-3:]:
            turn = self._turn_of.get(record.index)
            if turn is not None:
                record.bot_text, record.said_text = turn.heard, turn.said

    async def _on_user_turn_stopped(
        self,
        turn: Turn,
        speculation: dict[str, int] | None,
        _aggregator: Any,
        _strategy: Any,
        message: Any,
    ) -> None:
        if self.turns and self.turns[-1].completed_at is None:
            await self._complete(self.turns[-1])
        text = (getattr(message, "content", None) or "").strip()
        last = self.turns[-1].index if self.turns else -1
        # The state's turn, unless this report had no turn end of its own (the aggregator
        # flushing the caller's words as the session ends) or the state trails (no feed).
        index = turn.id if turn.id > last and self._feed is not None else last + 1
        record = TurnRecord(
            index=index,
            user_text=text,
            session_id=self.session_id,
            user_started_at=self._user_started_at,
            speculation=speculation,
        )
        self._open(record, turn)
        record.failovers.extend(self._early_failovers.pop(index, []))
        self._user_started_at = None
        self._spoke_at = self._assistant_done_at = self._last_tool_at = None
        self._retrievals.turn_opened(self.turns)

    async def _on_assistant_turn_stopped(self, _aggregator: Any, message: Any) -> None:
        turn = self._record_of_reply(getattr(message, "timestamp", ""))
        self._sync_texts()
        if turn.index not in self._turn_of:  # no feed (the state may not have them yet)
            text = (getattr(message, "content", None) or "").strip()
            if text:
                turn.bot_text = f"{turn.bot_text} {text}".strip()
        interrupted = bool(getattr(message, "interrupted", False))
        turn.interrupted = turn.interrupted or interrupted
        if turn is not self.turns[-1]:
            # An earlier turn's reply, cut by the caller after their next turn began (the
            # barge-in ruled on its transcript): it says nothing of the current turn's.
            if turn.completed_at is None:
                await self._complete(turn)
            return
        self._assistant_done_at = time.time()
        if interrupted and turn.completed_at is None:
            await self._complete(turn)
        else:
            await self._maybe_complete()

    def _record_of_reply(self, timestamp: str) -> TurnRecord:
        """The record of the turn a reply was said in (the state knows, from the time
        Pipecat dates the assistant turn with); the current one without a feed."""
        current = self._current()
        if self._feed is None:
            return current
        said_in = self.conversation.turn_said_at(timestamp).id
        for record in reversed(self.turns):
            if record.index == said_in:
                return record
        return current

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
        frame = data.frame
        if self._feed is None:  # a plain observer: keep this log's own state
            self.conversation.apply(frame, data.direction, data.source)
        await self.latency_observer.on_push_frame(data)
        if isinstance(frame, FunctionCallInProgressFrame):
            self._last_tool_at = time.time()
            if frame.tool_call_id not in self._calls:
                record = ToolCallRecord(frame.function_name, frame.tool_call_id, frame.arguments)
                self._calls[frame.tool_call_id] = record
                if frame.cancel_on_interruption:
                    self._answer_calls.add(frame.tool_call_id)
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
        elif isinstance(frame, InterruptionFrame):
            turn = self.turns[-1] if self.turns else None
            open_turn = turn is not None and turn.user_text and turn.completed_at is None
            if turn is not None and open_turn and not self._reply_heard():
                turn.interrupted = True  # the caller went on before the answer was heard
        elif isinstance(frame, BotStartedSpeakingFrame):
            self._spoke_at = time.time()
            if self._current().bot_started_at is None:
                self._current().bot_started_at = self._spoke_at
        elif isinstance(frame, BotStoppedSpeakingFrame):
            if self.turns:
                self.turns[-1].bot_stopped_at = time.time()
            await self._maybe_complete()

    async def on_pipeline_started(self) -> None:
        await self.latency_observer.on_pipeline_started()
        for hook in self._start_hooks:
            await _call(hook)

    # ---- completion ------------------------------------------------------------------------

    def _reply_heard(self) -> bool:
        """The bot spoke this turn, its reply is closed, it is not speaking now, and no call
        the answer waits on is running (a turn may still be open for a background tool: that
        is no interruption; a blocking call the caller's words cancel is)."""
        turn = self.turns[-1] if self.turns else None
        waiting = turn is not None and any(
            not c.finished and c.call_id in self._answer_calls for c in turn.tool_calls
        )
        return (
            self._spoke_at is not None
            and self._assistant_done_at is not None
            and self._assistant_done_at >= self._spoke_at
            and not self.conversation.bot_speaking
            and not waiting
        )

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
        if spoke and replied and tools_done and not self.conversation.bot_speaking:
            await self._complete(turn)

    async def _complete(self, turn: TurnRecord) -> None:
        self._sync_texts()
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
        InterruptionFrame,
        VADUserStartedSpeakingFrame,
    }
    return tuple(theirs | ours)


#: Frames a ``TurnLog`` gets from its feed.
WATCHED: tuple[type, ...] = _watched_frames()


async def _call(hook: Callable[..., Any], *args: Any) -> None:
    try:
        result = hook(*args)
        if inspect.isawaitable(result):
            await result
    except Exception as e:
        logger.opt(exception=e).error(f"voicebot: turn hook {hook!r} raised {e}")
