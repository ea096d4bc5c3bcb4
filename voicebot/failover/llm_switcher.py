"""The processor ``FallbackLLM`` builds: Pipecat's ``LLMSwitcher`` that decides itself when
to move to the next LLM, replays the request there, and says the apology when none is left
(the behaviour is described in ``voicebot.failover.llm``).

It judges what its members push (each member's ``on_before_push_frame`` tags the frames of
interest with their origin): a member's error is answered for here; its response start is
held until the first text or tool call, so a failed attempt never reaches the caller; a
member that misses its first-token or stall deadline is stopped with an interruption of its
own (only it receives the frame) and the request moves on; what that interruption flushed
from the member's queue behind the request (a goodbye to speak) is passed on here. Once the
EndFrame has gone to the members nothing can be asked again: a fault then says nothing
(no filler, no replay, no apology) and the call ends.

A speculative request (``TurnProvider(speculate=True)``) is held inside the member until the
turn ends, so its deadline starts only then (``UserStoppedSpeakingFrame``), and it is
forgotten when the speculation is withdrawn (``EagerEndOfTurnCancelFrame``).

(Just over ~400 lines: one decision-maker over one set of requests; the request records and
the frames behind them are already in ``llm_requests.py``.)
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from loguru import logger
from pipecat.frames.frames import (
    CancelFrame,
    EagerEndOfTurnCancelFrame,
    EndFrame,
    EndWorkerFrame,
    ErrorFrame,
    Frame,
    FunctionCallInProgressFrame,
    FunctionCallsStartedFrame,
    InterruptionFrame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    ManuallySwitchServiceFrame,
    SystemFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.pipeline.llm_switcher import LLMSwitcher
from pipecat.pipeline.service_switcher import ServiceSwitcherStrategyManual
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from voicebot.failover.llm_requests import Behind, Request
from voicebot.failover.policy import (
    DEFAULT_POLICY,
    FailoverEvent,
    FailoverListener,
    FailoverPolicy,
    Health,
    Reason,
    classify,
    describe,
    fails_over,
    provider_label,
    record_switch,
)
from voicebot.providers.base import LLMProvider

DEFAULT_APOLOGY = "Sorry, I'm having trouble right now. Please try again in a moment."
DEFAULT_GOODBYE = "Sorry, I can't help right now. Please call back later. Goodbye."
_RESPONSE = (LLMFullResponseStartFrame, LLMFullResponseEndFrame, LLMTextFrame)
_CONTENT = (LLMTextFrame, FunctionCallsStartedFrame, FunctionCallInProgressFrame)
_TAGGED = (*_RESPONSE, *_CONTENT, InterruptionFrame, ErrorFrame)


class FailoverLLMSwitcher(LLMSwitcher[ServiceSwitcherStrategyManual]):
    """The processor ``FallbackLLM`` builds; switches through the manual strategy."""

    def __init__(
        self,
        llms: list[Any],
        *,
        providers: Sequence[LLMProvider],
        policy: FailoverPolicy = DEFAULT_POLICY,
        one_moment: str | None = None,
        bridge: str | None = None,
        goodbye: str | None = DEFAULT_GOODBYE,
    ) -> None:
        super().__init__(llms, ServiceSwitcherStrategyManual)
        self.providers = list(providers)
        self.policy = policy
        self.one_moment = one_moment
        self.bridge = bridge
        self.goodbye = goodbye
        self.apology: str | None = DEFAULT_APOLOGY
        self.max_failed_turns = 3
        self.failed_turns = 0
        self.health = [Health(provider_label(p)) for p in self.providers]
        self.events: list[FailoverEvent] = []
        self._listeners: list[FailoverListener] = []
        self._requests: list[Request] = []
        self._replays: set[int] = set()
        self._aborts: dict[int, Request] = {}  # our abort's id -> the request it stopped
        self._origin: OrderedDict[int, FrameProcessor] = OrderedDict()
        self._behind = Behind()  # what an abort may flush from a member's queue
        self._ending = False  # the EndFrame went to the members
        self._failed_in_turn: set[FrameProcessor] = set()
        for member in self.services:
            member.add_event_handler("on_before_push_frame", self._tag)

    # ---- configuration (``Session.build`` calls these) -----------------------------------

    def add_listener(self, listener: FailoverListener) -> None:
        """Call ``listener`` with each switch (the session files them on the turn record)."""
        self._listeners.append(listener)

    def set_apology(self, apology: str | None, max_failed_turns: int) -> None:
        self.apology, self.max_failed_turns = apology, max_failed_turns

    # ---- frames in ------------------------------------------------------------------------

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, (InterruptionFrame, CancelFrame)):
            self._drop_requests()  # a barge-in, or the end: nothing is owed any more
        elif isinstance(frame, EagerEndOfTurnCancelFrame):
            self._drop_requests(speculative_only=True)
        elif isinstance(frame, UserStoppedSpeakingFrame):
            self._speculation_confirmed()
        elif isinstance(frame, EndFrame):
            self._ending = True
        elif isinstance(frame, LLMContextFrame):
            if frame.id in self._replays:
                self._replays.discard(frame.id)
            else:
                if direction == FrameDirection.DOWNSTREAM:  # a new turn: take back a healthy one
                    self._failed_in_turn.clear()
                    await self._prefer_recovered()
                self._add_request(frame, direction)
        elif not isinstance(frame, SystemFrame) and self._requests:
            active = self.strategy.active_service
            owed = [r for r in self._requests if r.member is active]
            self._behind.given(frame, direction, owed[-1] if owed else None)
        await super().process_frame(frame, direction)

    def _add_request(self, frame: LLMContextFrame, direction: FrameDirection) -> None:
        member = self.strategy.active_service
        # A tool's follow-up belongs to the same turn: what failed in it is not asked again.
        tried = [member, *self._failed_in_turn]
        request = Request(frame, direction, member, self._now(), tried=tried)
        request.speculative = frame.speculation
        self._requests.append(request)
        if self._first_for(member) is request and not request.speculative:
            self._arm(request, self._first_budget(member), Reason.NO_FIRST)

    def _speculation_confirmed(self) -> None:
        """The turn is over: a speculative answer is released now, and owed from now on."""
        for request in self._requests:
            if request.speculative:
                request.speculative = False
                if self._first_for(request.member) is request and not request.started:
                    self._arm(request, self._first_budget(request.member), Reason.NO_FIRST)

    async def _prefer_recovered(self) -> None:
        """At a new turn, the first provider in the list that is healthy or whose backoff
        has run out answers: a failed one is taken back by trying it on a real request."""
        now = self._now()
        active = self.strategy.active_service
        member = next(
            (m for m, h in zip(self.services, self.health, strict=True) if h.due(now)), active
        )
        if member is active:
            return
        if not member.is_usable:
            await member.set_usable(True)
        await self._switch(member)
        self._record(active, member, Reason.RECOVERED, "tried again after its backoff", None)

    # ---- frames out -------------------------------------------------------------------------

    async def _tag(self, member: FrameProcessor, frame: Frame) -> None:
        """Which member pushed a frame, for the ones this switcher judges."""
        if isinstance(frame, _TAGGED):
            self._origin[frame.id] = member
            while len(self._origin) > 512:
                self._origin.popitem(last=False)

    async def push_frame(self, frame: Frame, direction: FrameDirection = FrameDirection.DOWNSTREAM):
        self._behind.came_out(frame)
        member = self._origin.pop(frame.id, None)
        if member is None:
            await super().push_frame(frame, direction)
            return
        if frame.id in self._aborts:  # our own abort, back out of the member it stopped
            await self._rescue(member, self._aborts.pop(frame.id))
            return
        request = self._first_for(member)
        if isinstance(frame, ErrorFrame):
            if request is not None and fails_over(frame):
                if request.failure is None:
                    request.failure = (classify(frame), describe(frame))
                return  # answered for here: the next member, or the apology
            await super().push_frame(frame, direction)
            return
        if direction != FrameDirection.DOWNSTREAM or not isinstance(frame, _RESPONSE + _CONTENT):
            await super().push_frame(frame, direction)
            return
        if request is None:
            if not isinstance(frame, _RESPONSE):
                await super().push_frame(frame, direction)
            return  # the tail of an abandoned attempt
        if isinstance(frame, LLMFullResponseStartFrame):
            request.started, request.held_start = True, frame
            if request.timer is None:
                self._arm(request, self._first_budget(member), Reason.NO_FIRST)
        elif isinstance(frame, LLMFullResponseEndFrame):
            await self._attempt_ended(request, frame)
        else:
            if request.failure is not None:
                return  # text after a fault was decided (a timed-out stream waking up)
            if request.held_start is not None:
                await super().push_frame(request.held_start, direction)
                request.held_start = None
            request.content = request.spoke = True
            self._arm(request, self.policy.stall_budget("llm"), Reason.STALL)
            await super().push_frame(frame, direction)

    async def _attempt_ended(self, request: Request, end: Frame) -> None:
        self._disarm(request)
        if request.failure is None and not request.content:
            request.failure = (Reason.EMPTY, "the response had no text and no tool call")
        if request.failure is None:
            self._requests.remove(request)
            self.health[self.services.index(request.member)].succeeded()
            self.failed_turns = 0
            await super().push_frame(end)
            return
        await self._fail_over(request)

    # ---- failing over -----------------------------------------------------------------------

    async def _timed_out(self, request: Request, member: FrameProcessor, reason: Reason) -> None:
        if (
            request not in self._requests
            or request.failure is not None
            # Since the deadline fired: text re-armed it, or an error in the same step
            # moved the request on (the next member's own deadline is armed).
            or request.timer is not None
            or request.member is not member
        ):
            return
        budget = self._first_budget(request.member) if reason is Reason.NO_FIRST else None
        what = (
            f"no first token within {budget:g}s"
            if budget is not None
            else f"the stream stalled for {self.policy.stall_budget('llm'):g}s"
        )
        request.failure = (reason, what)
        stopped = request.member
        await self._fail_over(request)
        abort = InterruptionFrame()  # only the late member gets it: it stops its request
        self._aborts[abort.id] = request
        await stopped.queue_frame(abort)

    async def _fail_over(self, request: Request) -> None:
        """Move ``request`` on to the next member (or to the apology). The request is
        rebound before anything is awaited, so the failed member's late frames (its end,
        after an abort) no longer count as the request's and cannot fail it over twice."""
        assert request.failure is not None
        reason, detail = request.failure
        failed = request.member
        now = self._now()
        self.health[self.services.index(failed)].failed(reason, detail, self.policy, now)
        self._failed_in_turn.add(failed)
        waited = now - request.asked_at
        cut = request.content  # part of it had gone to be spoken
        nxt = None if self._ending else self._next_member(request)
        if nxt is None:
            self._requests.remove(request)
        else:
            request.member, request.started, request.held_start = nxt, False, None
            request.content, request.failure = False, None
            request.tried.append(nxt)
        if cut:  # stop the rest of the cut reply as a barge-in would
            await super().push_frame(InterruptionFrame())
        if self._ending:  # every member has its EndFrame: nothing can answer any more
            logger.warning(
                f"voicebot failover: llm {self.health[self.services.index(failed)].name}"
                f": {reason} as the call ends; its request is dropped ({detail})"
            )
            return
        if nxt is None:
            self._record(failed, None, reason, detail, waited)
            await self._apologise()
            return
        if not nxt.is_usable:
            await nxt.set_usable(True)
        await self._switch(nxt)
        self._record(failed, nxt, reason, detail, waited, replayed=not request.spoke)
        if request.spoke and self.bridge:
            await self._say(self.bridge)
        elif waited >= self.policy.llm_first_token_secs and self.one_moment:
            await self._say(self.one_moment)
        await self._replay(request)

    def _next_member(self, request: Request) -> FrameProcessor | None:
        """The next provider to ask, in the list's order: one not tried for this request
        (nor failed earlier in its turn), not in its backoff if any other is left."""
        now = self._now()
        fresh = [
            (m, h)
            for m, h in zip(self.services, self.health, strict=True)
            if m not in request.tried
        ]
        for member, health in fresh:
            if health.due(now):
                return member
        return fresh[0][0] if fresh else None

    async def _replay(self, request: Request) -> None:
        again = replace(request.frame)
        self._replays.add(again.id)
        self._arm(request, self._first_budget(request.member), Reason.NO_FIRST)
        await self.queue_frame(again, request.direction)

    async def _rescue(self, member: FrameProcessor, aborted: Request) -> None:
        """An aborted member dropped what was queued behind its request: the requests are
        asked again, the frames passed on (after the replayed answer; at the end, now)."""
        active = self.strategy.active_service
        requests = [r for r in self._requests if r.member is member and not r.started]
        for request in requests:
            if self._ending:
                self._requests.remove(request)
                continue
            request.member = active
            request.tried.append(active)
            await self._replay(request)
        for frame, direction in self._behind.flushed([aborted, *requests]):
            if self._ending:
                await super().push_frame(frame, direction)  # before the EndFrame leaves
            else:
                await self.queue_frame(frame, direction)

    async def _apologise(self) -> None:
        self.failed_turns += 1
        last = self.failed_turns >= self.max_failed_turns
        text = self.goodbye if last else self.apology
        if text:
            await self._say(text)
        if last:
            logger.warning(f"{self}: {self.failed_turns} turns failed in a row; ending the call")
            await super().push_frame(EndWorkerFrame())

    async def _say(self, text: str) -> None:
        """``text`` as a reply of its own: spoken, and in the context as said."""
        await super().push_frame(LLMFullResponseStartFrame())
        await super().push_frame(LLMTextFrame(text))
        await super().push_frame(LLMFullResponseEndFrame())

    async def _switch(self, member: FrameProcessor) -> None:
        await self.strategy.handle_frame(
            ManuallySwitchServiceFrame(service=member), FrameDirection.DOWNSTREAM
        )

    def _record(
        self,
        failed: FrameProcessor,
        to: FrameProcessor | None,
        reason: Reason,
        detail: str,
        waited: float | None,
        *,
        replayed: bool = False,
    ) -> None:
        name = lambda m: self.health[self.services.index(m)].name  # noqa: E731
        event = FailoverEvent(
            stage="llm",
            from_provider=name(failed),
            to_provider=name(to) if to is not None else "apology",
            reason=str(reason),
            detail=detail,
            after_secs=waited,
            replayed=replayed,
        )
        self.events.append(event)
        record_switch(event, self._listeners)

    # ---- deadlines ----------------------------------------------------------------------------

    def _first_budget(self, member: FrameProcessor) -> float:
        return self.policy.first_budget("llm", self.providers[self.services.index(member)])

    def _arm(self, request: Request, secs: float, reason: Reason) -> None:
        self._disarm(request)
        loop = asyncio.get_running_loop()
        request.timer = loop.call_later(secs, self._expire, request, request.member, reason)

    def _expire(self, request: Request, member: FrameProcessor, reason: Reason) -> None:
        request.timer = None
        self.create_task(self._timed_out(request, member, reason), "failover")

    @staticmethod
    def _disarm(request: Request) -> None:
        if request.timer is not None:
            request.timer.cancel()
            request.timer = None

    def _drop_requests(self, *, speculative_only: bool = False) -> None:
        dropped = [r for r in self._requests if r.speculative or not speculative_only]
        for request in dropped:
            self._disarm(request)
        self._requests = [r for r in self._requests if r not in dropped]
        if not speculative_only:
            self._behind.clear()  # dropped by the interruption, as everywhere else

    def _first_for(self, member: FrameProcessor) -> Request | None:
        return next((r for r in self._requests if r.member is member), None)

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    async def cleanup(self) -> None:
        self._drop_requests()
        await super().cleanup()
