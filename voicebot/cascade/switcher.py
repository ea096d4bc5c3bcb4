"""The processor ``Cascade`` builds: Pipecat's ``LLMSwitcher`` over the fast and the capable
model (both started, tools registered on both, one context), choosing the member per turn.

Each new request of the caller (a context whose last message is theirs) is routed: the
policies (``voicebot.cascade.routes``) pick the path; an escalation opens the reply with the
bridge ("Let me check that."), sent to be spoken at once, and the capable model's answer
continues that same reply (one response, so the context, the turn record and a fallback
group around the cascade see one answer). A tool's follow-up stays with the model that
called it.

With ``fast_declines`` the fast model's first words are held (``Pending``) until they show
whether it declines: released, or dropped unspoken, the fast model stopped by an
interruption of its own (only it gets the frame), and the request replayed on the capable
model after the bridge. Frames queued behind the stopped request (a goodbye to speak) are
passed on as the fallback group does (``voicebot.failover.llm_requests.Behind``). Held
text is blanked as the fast model pushes it (``on_before_push_frame``, before any observer
sees it), so what the session records as said is only what leaves here: released text goes
out as copies carrying the words.

A capable model that fails before any of its answer went out (an error frame) is answered
for here: the request is replayed on the fast model, the switch filed; one that fails
mid-answer is passed on as any LLM's error is.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from loguru import logger
from pipecat.frames.frames import (
    CancelFrame,
    EagerEndOfTurnCancelFrame,
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

from voicebot.cascade.routes import AnyOf, CascadeTurn, FastDeclines, Path
from voicebot.failover.llm_requests import Behind, Request
from voicebot.failover.policy import describe, fails_over

_RESPONSE = (LLMFullResponseStartFrame, LLMFullResponseEndFrame, LLMTextFrame)
_CONTENT = (LLMTextFrame, FunctionCallsStartedFrame, FunctionCallInProgressFrame)
_TAGGED = (*_RESPONSE, *_CONTENT, InterruptionFrame, ErrorFrame)


@dataclass(frozen=True)
class CascadeEvent:
    """Which model answered a turn and why, filed on the turn record (``TurnRecord.
    failovers``, stage ``"cascade"``; ``TurnRecord.llm_path`` reads it)."""

    path: Path
    reason: str  # the policy that escalated, "routine", or "capable_failed"
    from_provider: str
    to_provider: str
    detail: str = ""
    after_secs: float | None = None  # request -> decision (a decline: the fast words held)
    replayed: bool = False  # asked again after another model had it
    stage: str = field(default="cascade", init=False)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(eq=False)
class Pending:
    """The fast model's first frames of a reply, held until ``FastDeclines.judge`` says."""

    request: Request
    policy: FastDeclines
    frames: list[Frame] = field(default_factory=list)
    text: str = ""


class CascadeSwitcher(LLMSwitcher[ServiceSwitcherStrategyManual]):
    """Routes each turn to the fast or the capable member; see the module docstring."""

    def __init__(
        self,
        fast: Any,
        capable: Any,
        *,
        route: AnyOf,
        bridge: str | None,
        labels: tuple[str, str] = ("fast", "capable"),
    ) -> None:
        super().__init__([fast, capable], ServiceSwitcherStrategyManual)
        self.fast, self.capable = fast, capable
        self.route = route
        self.bridge = bridge
        self.labels = {fast: labels[0], capable: labels[1]}
        self.events: list[CascadeEvent] = []
        self._listeners: list[Callable[[CascadeEvent], Any]] = []
        self._request: Request | None = None  # the request a member owes an answer to
        self._pending: Pending | None = None
        self._opened: Request | None = None  # a reply the bridge began: its start was sent
        #: A speculative request's route, filed once its turn is confirmed (the record of
        #: the turn it answers does not exist before).
        self._unfiled: tuple[Path, str, str] | None = None
        self._muted: set[FrameProcessor] = set()  # members whose text is held or dropped
        self._hidden: dict[int, str] = {}  # a blanked text frame's id -> its words
        self._replays: set[int] = set()
        self._aborts: dict[int, Request] = {}
        self._origin: OrderedDict[int, FrameProcessor] = OrderedDict()
        self._behind = Behind()
        for member in self.services:
            member.add_event_handler("on_before_push_frame", self._tag)

    def add_listener(self, listener: Callable[[CascadeEvent], Any]) -> None:
        """Call ``listener`` with each turn's path (``Session`` files them on the record)."""
        self._listeners.append(listener)

    # ---- frames in ------------------------------------------------------------------------

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, (InterruptionFrame, CancelFrame)):
            self._forget()  # a barge-in, or the end: nothing is owed any more
        elif isinstance(frame, EagerEndOfTurnCancelFrame):
            if self._request is not None and self._request.speculative:
                self._forget()
        elif isinstance(frame, UserStoppedSpeakingFrame):
            await self._speculation_confirmed()
        elif isinstance(frame, LLMContextFrame):
            if frame.id in self._replays:
                self._replays.discard(frame.id)
            else:
                await self._route(frame, direction)
        elif not isinstance(frame, SystemFrame) and self._request is not None:
            self._behind.given(frame, direction, self._request)
        await super().process_frame(frame, direction)

    async def _speculation_confirmed(self) -> None:
        """The turn is over: an escalated speculative request gets its bridge now, before
        the member's held answer is released (the member gets this frame after us)."""
        request = self._request
        if request is None or not request.speculative:
            return
        request.speculative = False
        if self._unfiled is not None:
            self._file(*self._unfiled)
            self._unfiled = None
        if request.member is self.capable and self._opened is not request and not request.started:
            await self._open_with_bridge(request)

    async def _route(self, frame: LLMContextFrame, direction: FrameDirection) -> None:
        """Pick the member for a request; for a new turn of the caller, by the route."""
        turn = caller_turn(frame)
        active = self.strategy.active_service
        if turn is None:  # a tool's follow-up, or a note: the model that has the turn
            self._request = Request(frame, direction, active, _now())
            self._pending = None
            return
        if self.route.blocking:  # the tool router embeds the request: CPU work
            path, reason = await asyncio.to_thread(self.route.decide, turn)
        else:
            path, reason = self.route.decide(turn)
        member = self.capable if path == "capable" else self.fast
        await self._switch(member)
        request = Request(frame, direction, member, _now(), tried=[member])
        request.speculative = bool(getattr(frame, "speculation", False))
        self._request = request
        declines = self.route.declines
        if member is self.fast and declines is not None:
            self._pending = Pending(request, declines)  # filed once the fast words are judged
            self._muted.add(member)
            return
        self._pending = None
        if request.speculative:
            self._unfiled = (path, reason, turn.text)
        else:
            self._file(path, reason, turn.text)
        if member is self.capable:
            await self._open_with_bridge(request)

    # ---- frames out -----------------------------------------------------------------------

    async def _tag(self, member: FrameProcessor, frame: Frame) -> None:
        if isinstance(frame, _TAGGED):
            self._origin[frame.id] = member
            while len(self._origin) > 512:
                self._origin.popitem(last=False)
        if member in self._muted and isinstance(frame, LLMTextFrame):
            self._hidden[frame.id], frame.text = frame.text, ""

    async def push_frame(self, frame: Frame, direction: FrameDirection = FrameDirection.DOWNSTREAM):
        self._behind.came_out(frame)
        member = self._origin.pop(frame.id, None)
        hidden = self._hidden.pop(frame.id, None)
        if member is None:
            await super().push_frame(frame, direction)
            return
        if frame.id in self._aborts:  # our own stop, back out of the fast member
            await self._stopped(member, self._aborts.pop(frame.id))
            return
        request = self._request if self._request and self._request.member is member else None
        if request is None and isinstance(frame, _RESPONSE):
            return  # the tail of a dropped reply (a decline, a failed answer, a barge-in)
        if isinstance(frame, LLMFullResponseStartFrame) and self._opened is request:
            return  # the bridge began this reply: the answer continues it
        if isinstance(frame, ErrorFrame):
            if (
                request is not None
                and member is self.capable
                and not request.content
                and fails_over(frame)
            ):
                await self._capable_failed(request, frame)
                return
            await super().push_frame(frame, direction)
            return
        pending = self._pending
        if (
            pending is not None
            and pending.request is request
            and direction == FrameDirection.DOWNSTREAM
        ):
            await self._judge(pending, frame, hidden)
            return
        if hidden is not None and isinstance(frame, LLMTextFrame):
            frame = replace(frame, text=hidden)  # blanked in flight: the words go out now
        if request is not None and isinstance(frame, LLMFullResponseStartFrame):
            request.started = True
        elif request is not None and isinstance(frame, _CONTENT):
            request.content = request.spoke = True
        elif request is not None and isinstance(frame, LLMFullResponseEndFrame):
            self._request = self._opened = None
        await super().push_frame(frame, direction)

    async def _judge(self, pending: Pending, frame: Frame, hidden: str | None) -> None:
        """Hold the fast model's first frames until ``fast_declines`` can tell."""
        if isinstance(frame, (FunctionCallsStartedFrame, FunctionCallInProgressFrame)):
            verdict: bool | None = False  # a tool call is an answer, not a decline
        elif isinstance(frame, LLMTextFrame):
            words = hidden if hidden is not None else frame.text
            frame = replace(frame, text=words)  # a copy: the session sees it said on release
            pending.text += words
            verdict = pending.policy.judge(pending.text, final=False)
        elif isinstance(frame, LLMFullResponseEndFrame):
            verdict = pending.policy.judge(pending.text, final=True)
        else:
            verdict = None
        pending.frames.append(frame)
        if verdict is None:
            return
        self._pending = None
        request = pending.request
        waited = _now() - request.asked_at
        if verdict:
            await self._escalate_decline(request, pending.text, waited)
            return
        self._muted.discard(request.member)
        self._file("fast", "routine", _user_text(request), after=waited)
        for held in pending.frames:
            if isinstance(held, _CONTENT):
                request.content = request.spoke = True
            if isinstance(held, LLMFullResponseEndFrame):
                self._request = None
            await super().push_frame(held)

    async def _escalate_decline(self, request: Request, said: str, waited: float) -> None:
        """Drop the fast reply unspoken, stop the fast model, ask the capable one."""
        self._file(
            "capable",
            "fast_declines",
            f"the fast model began {said.strip()[:60]!r}",
            after=waited,
            replayed=True,
        )
        stopped = request.member
        abort = InterruptionFrame()  # only the fast member gets it: it stops its reply
        self._aborts[abort.id] = request
        await stopped.queue_frame(abort)
        await self._replay(request, self.capable, bridge=True)

    async def _capable_failed(self, request: Request, error: ErrorFrame) -> None:
        why = describe(error)
        logger.warning(f"{self}: the capable model failed ({why}); the fast model answers")
        self._file("fast", "capable_failed", why, replayed=True)
        if request.started:
            self._opened = request  # its reply began: the fast model's answer continues it
        await self._replay(request, self.fast, bridge=False)

    async def _replay(self, request: Request, member: FrameProcessor, *, bridge: bool) -> None:
        await self._switch(member)
        request.member, request.content = member, False
        request.tried.append(member)
        self._request = request
        if bridge:
            await self._open_with_bridge(request)
        again = replace(request.frame)
        self._replays.add(again.id)
        await self.queue_frame(again, request.direction)

    async def _stopped(self, member: FrameProcessor, request: Request) -> None:
        """The stopped member is done: pass on what its stop flushed from its queue."""
        self._muted.discard(member)
        for frame, direction in self._behind.flushed([request]):
            await self.queue_frame(frame, direction)

    # ---- helpers ----------------------------------------------------------------------------

    def _file(
        self,
        path: Path,
        reason: str,
        detail: str,
        *,
        after: float | None = None,
        replayed: bool = False,
    ) -> None:
        answering = self.fast if path == "fast" else self.capable
        event = CascadeEvent(
            path=path,
            reason=reason,
            from_provider=self.labels[self.fast],
            to_provider=self.labels[answering],
            detail=detail[:120],
            after_secs=after,
            replayed=replayed,
        )
        self.events.append(event)
        for listener in self._listeners:
            listener(event)

    async def _open_with_bridge(self, request: Request) -> None:
        """Begin ``request``'s reply with the bridge, spoken while the capable model thinks
        (the trailing space ends its sentence for the text aggregator now). A speculative
        request gets it when the turn is confirmed (``_speculation_confirmed``)."""
        if not self.bridge or request.speculative:
            return
        await super().push_frame(LLMFullResponseStartFrame())
        await super().push_frame(LLMTextFrame(f"{self.bridge} "))
        self._opened = request

    async def _switch(self, member: FrameProcessor) -> None:
        if self.strategy.active_service is not member:
            await self.strategy.handle_frame(
                ManuallySwitchServiceFrame(service=member), FrameDirection.DOWNSTREAM
            )

    def _forget(self) -> None:
        if self._pending is not None:
            self._muted.discard(self._pending.request.member)
        self._request = self._pending = self._opened = self._unfiled = None
        self._behind.clear()

    async def cleanup(self) -> None:
        self._forget()
        await super().cleanup()


def caller_turn(frame: LLMContextFrame) -> CascadeTurn | None:
    """The caller's turn a context asks about, or None when its last message is not the
    caller's (a tool result being answered)."""
    messages = [m for m in frame.context.get_messages() if isinstance(m, dict)]
    if not messages or messages[-1].get("role") != "user":
        return None
    tools = getattr(frame.context.tools, "standard_tools", None) or ()
    return CascadeTurn(text=_text(messages[-1]), messages=tuple(messages), tools=tuple(tools))


def _text(message: Any) -> str:
    content = message.get("content")
    if isinstance(content, list):
        content = " ".join(
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return content if isinstance(content, str) else ""


def _user_text(request: Request) -> str:
    turn = caller_turn(request.frame)
    return turn.text if turn is not None else ""


def _now() -> float:
    return asyncio.get_running_loop().time()
