"""Speculative replies: the LLM starts answering at the pause, before the turn is certain.

Any turn-stop strategy (smart-turn, silence, punctuation) spends time deciding after the
caller pauses: the turn model's call, a silence timeout, the fallback when the model says
"not yet". ``SpeculativeUserTurnStopStrategy`` wraps that strategy and, as soon as the VAD
reports a pause and a transcript exists, asks Pipecat for a *speculative* inference on the
words so far. Pipecat does the rest with public parts: the user aggregator runs it on a
provisional copy of the context (the real one is untouched) and the LLM service's
``SpeculationGate`` holds its output until the turn ends (``UserStoppedSpeakingFrame``
releases it) or drops it (``EagerEndOfTurnCancelFrame``).

When the wrapped strategy decides the turn is over, the speculation is kept if the words are
the same (Pipecat's ``NormalizedMatch``: case, punctuation and spacing ignored), so the reply
already generated is released at once; otherwise it is withdrawn and the turn is answered
as usual. The caller going on (the VAD hears speech again), new words after the pause, a
tool call in the speculative reply (Pipecat withdraws it: a tool's side effects cannot be
undone) or ``speculation_timeout`` withdraw it too. Every withdrawal is an extra LLM request;
``SpeculationCounts`` counts them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from loguru import logger
from pipecat.frames.frames import (
    EagerEndOfTurnCancelFrame,
    Frame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessorSetup
from pipecat.turns.types import ProcessFrameResult, UserTurnSpeculation
from pipecat.turns.user_stop import BaseUserTurnStopStrategy
from pipecat.turns.user_stop.base_user_turn_stop_strategy import UserTurnStoppedParams
from pipecat.turns.user_stop.eager_match_policy import EagerMatchPolicy, NormalizedMatch


@dataclass
class SpeculationCounts:
    """What speculation cost: every ``started`` is one LLM request, and each one
    ``withdrawn`` was a request the caller never heard."""

    started: int = 0
    confirmed: int = 0
    withdrawn: int = 0

    def add(self, other: SpeculationCounts) -> None:
        self.started += other.started
        self.confirmed += other.confirmed
        self.withdrawn += other.withdrawn

    def to_dict(self) -> dict[str, int]:
        return {"started": self.started, "confirmed": self.confirmed, "withdrawn": self.withdrawn}


class SpeculativeUserTurnStopStrategy(BaseUserTurnStopStrategy):
    """Starts the reply at the pause; ``inner`` still decides when the turn ends.

    The controller sees only this strategy; ``inner`` gets every frame and turn boundary,
    and its decisions come back through here (its frames and broadcasts are passed on).
    """

    def __init__(
        self,
        inner: BaseUserTurnStopStrategy,
        *,
        match_policy: EagerMatchPolicy | None = None,
        speculation_timeout: float = 10.0,
    ) -> None:
        super().__init__()
        self._inner = inner
        self._match = match_policy or NormalizedMatch()
        self._timeout = speculation_timeout
        #: This turn's so far; ``last_turn`` is the turn that ended last (the turn log
        #: files it on the turn's record); ``total`` the session's, ended turns only.
        self.counts = SpeculationCounts()
        self.last_turn: SpeculationCounts | None = None
        self.total = SpeculationCounts()
        self._turn_open = False
        self._paused = False  # the VAD's last word: the caller stopped
        self._fresh = False  # words came since the caller last (re)started speaking
        self._finals: list[str] = []
        self._speculation: UserTurnSpeculation | None = None
        self._timer: asyncio.Task[None] | None = None
        self._confirming = False  # inner decided and the words matched: finalize, no new run
        self._given_up = ""  # text whose speculation Pipecat withdrew (a tool call): not again

    @property
    def inner(self) -> BaseUserTurnStopStrategy:
        return self._inner

    @property
    def resolves_proposed_turn_stop_frames(self) -> bool:
        return self._inner.resolves_proposed_turn_stop_frames

    async def setup(self, setup: FrameProcessorSetup) -> None:  # type: ignore[override]  # as Pipecat's base
        await super().setup(setup)
        self._inner.add_event_handler("on_push_frame", self._inner_pushed)
        self._inner.add_event_handler("on_broadcast_frame", self._inner_broadcast)
        self._inner.add_event_handler("on_user_turn_inference_triggered", self._inner_inference)
        self._inner.add_event_handler(
            "on_user_turn_speculation_cancelled", self._inner_speculation_cancelled
        )
        self._inner.add_event_handler("on_user_turn_stopped", self._inner_stopped)
        await self._inner.setup(setup)

    async def cleanup(self) -> None:
        await super().cleanup()
        await self._stop_timer()
        await self._inner.cleanup()

    async def handle_user_turn_started(self) -> None:
        await self._inner.handle_user_turn_started()
        await self._settle(withdraw=True)
        self._turn_open = True
        self._finals, self._given_up = [], ""
        self.counts = SpeculationCounts()

    async def handle_user_turn_stopped(self) -> None:
        await self._inner.handle_user_turn_stopped()
        # Ended some other way (the controller's watchdog) with a speculation unresolved:
        # nothing else would withdraw it, and the gate would hold it for good.
        await self._settle(withdraw=not self._confirming)
        self._turn_open = self._paused = False
        self._finals = []
        self.last_turn, self.counts = self.counts, SpeculationCounts()
        self.total.add(self.last_turn)

    async def process_frame(self, frame: Frame) -> ProcessFrameResult:
        if isinstance(frame, VADUserStartedSpeakingFrame):
            self._paused = self._fresh = False
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            self._paused = True
        elif isinstance(frame, TranscriptionFrame):
            self._finals.append(frame.text)
            self._fresh = True
        elif isinstance(frame, EagerEndOfTurnCancelFrame) and self._speculation is not None:
            # Pipecat withdrew it (the reply wanted a tool): the turn's real end runs it.
            self._given_up = self._speculation.text
            await self._settle(withdraw=False)
            self.counts.withdrawn += 1

        result = await self._inner.process_frame(frame)

        if isinstance(frame, VADUserStartedSpeakingFrame) and self._speculation is not None:
            logger.debug(f"{self}: the caller went on; withdrawing the speculative reply")
            await self._withdraw()
        elif self._paused and self._fresh and self._turn_open and not self._confirming:
            # Only words heard since the caller last went on: the words before that were
            # answered already, and the rest of the sentence is on its way.
            await self._maybe_speculate()
        return result if result is not None else ProcessFrameResult.CONTINUE

    def _text(self) -> str:
        # Final transcripts only: what the aggregator will write to the context. An interim
        # at the pause usually lacks the last word, and a speculation on it is a request lost.
        return " ".join(t.strip() for t in self._finals if t.strip())

    async def _maybe_speculate(self) -> None:
        text = self._text()
        if not text or (self._given_up and self._match.matches(self._given_up, text)):
            return
        if self._speculation is not None:
            if self._match.matches(self._speculation.text, text):
                return
            logger.debug(f"{self}: more words after the pause; speculating again")
            await self._withdraw()
        speculation = UserTurnSpeculation(text=text)
        self._speculation = speculation
        self.counts.started += 1
        self._timer = self.task_manager.create_task(
            self._expire(speculation), f"{self}::speculation_timeout"
        )
        await self.trigger_user_turn_inference_triggered(speculation=speculation)

    async def _expire(self, speculation: UserTurnSpeculation) -> None:
        await asyncio.sleep(self._timeout)
        self._timer = None
        if self._speculation is speculation:
            logger.debug(f"{self}: unresolved after {self._timeout}s; withdrawing it")
            await self._withdraw()

    async def _withdraw(self) -> None:
        if self._speculation is None:
            return
        await self._settle(withdraw=True)

    async def _settle(self, *, withdraw: bool) -> None:
        """End the speculation in flight: withdrawn (counted, Pipecat told) or kept."""
        speculation, self._speculation = self._speculation, None
        self._confirming = False
        await self._stop_timer()
        if speculation is not None and withdraw:
            self.counts.withdrawn += 1
            await self.trigger_user_turn_speculation_cancelled()

    async def _stop_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None and timer is not asyncio.current_task():
            await self.task_manager.cancel_task(timer)

    # The inner strategy's decisions, passed on (or turned into a confirmation).

    async def _inner_pushed(self, _inner: Any, frame: Frame, direction: FrameDirection) -> None:
        await self.push_frame(frame, direction)

    async def _inner_broadcast(self, _inner: Any, frame_cls: type[Frame], **kwargs: Any) -> None:
        await self.broadcast_frame(frame_cls, **kwargs)

    async def _inner_speculation_cancelled(self, _inner: Any) -> None:
        await self.trigger_user_turn_speculation_cancelled()

    async def _inner_inference(
        self, _inner: Any, speculation: UserTurnSpeculation | None = None
    ) -> None:
        if speculation is None and self._speculation is not None:
            if self._match.matches(self._speculation.text, self._text()):
                self._confirming = True  # the reply is already made: only finalize
                return
            logger.debug(f"{self}: the words changed since the pause; withdrawing the reply")
            await self._withdraw()
        await self.trigger_user_turn_inference_triggered(speculation=speculation)

    async def _inner_stopped(self, _inner: Any, params: UserTurnStoppedParams) -> None:
        if self._confirming:
            self.counts.confirmed += 1
            await self.trigger_user_turn_finalized(
                enable_user_speaking_frames=params.enable_user_speaking_frames,
                confirms_speculation=True,
            )
            return
        await self.trigger_user_turn_finalized(
            enable_user_speaking_frames=params.enable_user_speaking_frames,
            confirms_speculation=params.confirms_speculation,
        )


def speculative(
    stop: list[BaseUserTurnStopStrategy], *, timeout: float
) -> list[BaseUserTurnStopStrategy]:
    """The first stop strategy wrapped: one speculation per turn. Any others still end turns
    on their own, and a turn they end withdraws the speculation."""
    if not stop:
        return stop
    return [SpeculativeUserTurnStopStrategy(stop[0], speculation_timeout=timeout), *stop[1:]]
