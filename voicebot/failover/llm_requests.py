"""What the LLM fallback group (``voicebot.failover.llm_switcher``) keeps per request: the
request across its attempts on the members, and the frames queued behind it in a member.

A member answers one request at a time; whatever it was given after the request waits in
its queue and is passed on once the answer is out (a goodbye to speak, say). When the group
stops a late member with an interruption of its own, Pipecat flushes that queue, so the group
passes those frames on itself: ``Behind`` remembers them until they come out.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field

from pipecat.frames.frames import (
    Frame,
    LLMContextFrame,
    ServiceSwitcherFrame,
    ServiceUpdateSettingsFrame,
    SystemFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from voicebot.failover.policy import Reason

#: Frames remembered at most (the oldest are forgotten first): a member's queue is short.
_MAX_BEHIND = 256
#: Frames a member does not wait with (system frames), or that are not passed on as given.
_NOT_PASSED = (SystemFrame, LLMContextFrame, ServiceSwitcherFrame, ServiceUpdateSettingsFrame)


@dataclass(eq=False)
class Request:
    """One context the stage owes an answer to, across its attempts on the members."""

    frame: LLMContextFrame
    direction: FrameDirection
    member: FrameProcessor
    asked_at: float
    tried: list[FrameProcessor] = field(default_factory=list)
    started: bool = False  # the answering member has begun (its response start came)
    held_start: Frame | None = None
    content: bool = False  # text or a tool call of this attempt went downstream
    spoke: bool = False  # ... of any attempt
    failure: tuple[Reason, str] | None = None
    timer: asyncio.TimerHandle | None = None
    speculative: bool = False  # held by the member until the turn ends (no deadline till then)


class Behind:
    """Frames given to a member behind a request it owes, until they come out of it."""

    def __init__(self) -> None:
        self._frames: OrderedDict[int, tuple[Frame, FrameDirection, Request]] = OrderedDict()

    def given(self, frame: Frame, direction: FrameDirection, owed: Request | None) -> None:
        """``frame`` went to the active member, which owes ``owed`` (None: nothing)."""
        if owed is None or not frame.interruptible or isinstance(frame, _NOT_PASSED):
            return
        self._frames[frame.id] = (frame, direction, owed)
        while len(self._frames) > _MAX_BEHIND:
            self._frames.popitem(last=False)

    def came_out(self, frame: Frame) -> None:
        self._frames.pop(frame.id, None)

    def flushed(self, requests: Iterable[Request]) -> list[tuple[Frame, FrameDirection]]:
        """The frames that waited behind ``requests`` (stopped), in order; forgotten here."""
        stopped = list(requests)
        found = [
            (fid, frame, direction)
            for fid, (frame, direction, request) in self._frames.items()
            if any(request is r for r in stopped)
        ]
        for fid, _, _ in found:
            del self._frames[fid]
        return [(frame, direction) for _, frame, direction in found]

    def clear(self) -> None:
        self._frames.clear()
