"""What happened in each turn of a session: who said what, which tools ran, how long it took.

Built on Pipecat's pieces rather than beside them: transcripts come from the context
aggregators' turn events, timings from ``UserBotLatencyObserver`` (the per-stage breakdown),
tool calls from the function-call frames.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from pipecat.frames.frames import FunctionCallInProgressFrame, FunctionCallResultFrame
from pipecat.observers.base_observer import BaseObserver, FramePushed
from pipecat.observers.user_bot_latency_observer import (
    LatencyBreakdown,
    MeasuredFrom,
    UserBotLatencyObserver,
)


@dataclass
class ToolCallRecord:
    name: str
    call_id: str
    arguments: Any
    result: Any = None
    finished: bool = False


@dataclass
class TurnRecord:
    """One exchange: the user's words (empty for a greeting) and the bot's answer.

    ``voice_to_voice_secs`` is measured inside the bot (from the moment the user went quiet
    to the first bot audio leaving the pipeline); ``stages`` names where that time went.
    ``caller_voice_to_voice_secs`` is read off the caller's audio when there is a caller
    recording (the WAV transport), and so includes the transport.
    """

    index: int
    user_text: str = ""
    bot_text: str = ""
    interrupted: bool = False
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    voice_to_voice_secs: float | None = None
    stages: dict[str, float] = field(default_factory=dict)
    caller_voice_to_voice_secs: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


TurnHook = Callable[[TurnRecord], Awaitable[None] | None]


class TurnLog(BaseObserver):
    """Collects ``TurnRecord``s for a session; attach with ``TurnLog.attach``."""

    def __init__(self) -> None:
        super().__init__()
        self.turns: list[TurnRecord] = []
        self.latency = UserBotLatencyObserver()
        self.latency.add_event_handler("on_latency_breakdown", self._on_breakdown)
        self._calls: dict[str, ToolCallRecord] = {}

    # ---- wiring ----------------------------------------------------------------------------

    def attach(self, user_aggregator: Any, assistant_aggregator: Any) -> None:
        user_aggregator.add_event_handler("on_user_turn_stopped", self._on_user_turn_stopped)
        assistant_aggregator.add_event_handler(
            "on_assistant_turn_stopped", self._on_assistant_turn_stopped
        )

    @property
    def observers(self) -> list[BaseObserver]:
        return [self, self.latency]

    # ---- events ----------------------------------------------------------------------------

    def _current(self) -> TurnRecord:
        if not self.turns:
            self.turns.append(TurnRecord(index=0))
        return self.turns[-1]

    async def _on_user_turn_stopped(self, _aggregator: Any, _strategy: Any, message: Any) -> None:
        text = (getattr(message, "content", None) or "").strip()
        self.turns.append(TurnRecord(index=len(self.turns), user_text=text))

    async def _on_assistant_turn_stopped(self, _aggregator: Any, message: Any) -> None:
        turn = self._current()
        text = (getattr(message, "content", None) or "").strip()
        if text:
            turn.bot_text = f"{turn.bot_text} {text}".strip()
        turn.interrupted = turn.interrupted or bool(getattr(message, "interrupted", False))

    async def _on_breakdown(self, _observer: Any, breakdown: LatencyBreakdown) -> None:
        turn = self._current()
        if turn.voice_to_voice_secs is not None or breakdown.measured_from is None:
            return
        if (breakdown.measured_from == MeasuredFrom.USER_SILENCE) != bool(turn.user_text):
            return  # a greeting's timing never lands on a user turn, nor the reverse
        turn.voice_to_voice_secs = breakdown.total_secs
        stages: dict[str, float] = {}
        for c in breakdown.contributions:
            stages[c.key] = stages.get(c.key, 0.0) + c.duration_secs
        turn.stages = stages

    async def on_push_frame(self, data: FramePushed) -> None:
        frame = data.frame
        if isinstance(frame, FunctionCallInProgressFrame):
            if frame.tool_call_id not in self._calls:
                record = ToolCallRecord(frame.function_name, frame.tool_call_id, frame.arguments)
                self._calls[frame.tool_call_id] = record
                self._current().tool_calls.append(record)
        elif isinstance(frame, FunctionCallResultFrame):
            found = self._calls.get(frame.tool_call_id)
            if found is not None and not found.finished:
                found.result = frame.result
                found.finished = True

    # ---- summaries -------------------------------------------------------------------------

    def user_turns(self) -> list[TurnRecord]:
        return [t for t in self.turns if t.user_text]


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0-100), interpolated between neighbours; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * min(max(q, 0.0), 100.0) / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)
