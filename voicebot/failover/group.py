"""What the STT and TTS fallback groups share: a ``ServiceSwitcher`` whose active service is
chosen by the group, not by Pipecat's failover strategy.

Pipecat's ``ServiceSwitcherStrategyFailover`` moves only off a service that became unusable,
and it cannot replay anything into the next one. A group here decides itself (a vendor
error, or silence past the policy's budget), replays what the failed service still owed into
the next one before any live frame reaches it, and keeps the records (``FailoverEvent``).

Two things every group needs from the switcher, built on its public API only:

- the active service is ``ChosenStrategy.active_service``, a property the group sets; the
  switcher's filters read it for every frame, so a switch takes effect for the next frame;
- a member that is no longer active may still push what it had queued (a late transcript,
  the tail of a reply's audio). Each member's ``on_before_push_frame`` event marks such
  frames, and the group drops them on their way out (``stale``), so the caller never gets
  the failed vendor's leftovers on top of the fallback's answer.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from loguru import logger
from pipecat.frames.frames import (
    ErrorFrame,
    Frame,
    ManuallySwitchServiceFrame,
    ServiceSwitcherFrame,
    ServiceSwitcherRequestMetadataFrame,
)
from pipecat.pipeline.service_switcher import ServiceSwitcher, ServiceSwitcherStrategy
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from voicebot.failover.policy import (
    FailoverEvent,
    FailoverListener,
    FailoverPolicy,
    Health,
    Reason,
    Stage,
    classify,
    describe,
    provider_label,
    record_switch,
)

if TYPE_CHECKING:
    from voicebot.providers.base import Provider

#: Frames remembered for dropping on their way out (replayed copies, a failed member's
#: leftovers); a frame that never comes out is forgotten once this many came after it.
_MAX_MARKED = 1024


class ChosenStrategy(ServiceSwitcherStrategy):
    """The switcher's strategy: the active service is the one its group chose, and errors
    and manual switches are the group's to answer."""

    def __init__(self, services: list[FrameProcessor]) -> None:
        super().__init__(services)
        self._chosen = services[0]
        self._group: FailoverGroup | None = None

    @property
    def active_service(self) -> FrameProcessor:
        return self._chosen

    def choose(self, service: FrameProcessor) -> None:
        self._chosen = service

    async def handle_error(self, error: ErrorFrame) -> FrameProcessor | None:
        if self._group is None:
            return None
        return await self._group.member_failed(error)

    async def handle_frame(
        self, frame: ServiceSwitcherFrame, direction: FrameDirection
    ) -> FrameProcessor | None:
        if (
            self._group is not None
            and isinstance(frame, ManuallySwitchServiceFrame)
            and frame.service in self.services
            and frame.service is not self._chosen
        ):
            await self._group.switch(frame.service, reason="manual", detail="")
            return frame.service
        return None


class FailoverGroup(ServiceSwitcher[ChosenStrategy]):
    """A ``ServiceSwitcher`` over one stage's providers, in order of preference."""

    stage: ClassVar[Stage]

    def __init__(
        self,
        services: Sequence[FrameProcessor],
        providers: Sequence[Provider],
        policy: FailoverPolicy,
    ) -> None:
        super().__init__(list(services), strategy_type=ChosenStrategy)
        self.strategy._group = self
        self.policy = policy
        self.members = list(services)
        self.health = {
            id(s): Health(provider_label(p)) for s, p in zip(services, providers, strict=True)
        }
        self._providers = {id(s): p for s, p in zip(services, providers, strict=True)}
        #: Every switch this group made, oldest first.
        self.events: list[FailoverEvent] = []
        self._listeners: list[FailoverListener] = []
        self._marked: OrderedDict[int, None] = OrderedDict()
        self._switches_in_turn = 0
        #: An active member whose output is dropped too (it failed with nowhere to go).
        self.muted: FrameProcessor | None = None
        #: Hold the listeners' copy of each switch until ``file_deferred`` (see ``record``).
        self.defer_records = False
        self._deferred: list[FailoverEvent] = []
        for service in services:
            service.add_event_handler("on_before_push_frame", self._member_pushing)
            service.add_event_handler("on_error", self._member_error)

    # ---- who is who ------------------------------------------------------------------------

    @property
    def active(self) -> FrameProcessor:
        return self.strategy.active_service

    def provider_of(self, service: FrameProcessor) -> Provider:
        return self._providers[id(service)]

    def label(self, service: FrameProcessor) -> str:
        return self.health[id(service)].name

    def add_listener(self, listener: FailoverListener) -> None:
        """Call ``listener`` with each switch (the session files them on the turn record)."""
        self._listeners.append(listener)

    # ---- frames on their way out -----------------------------------------------------------

    def mark(self, frame: Frame) -> None:
        """Drop ``frame`` when it comes out of the group (a replayed copy, a leftover)."""
        self._marked[frame.id] = None
        while len(self._marked) > _MAX_MARKED:
            self._marked.popitem(last=False)

    def stale(self, frame: Frame) -> bool:
        """Whether a frame pushed by a member that is not active must not reach the caller.
        Subclasses name their stage's output frames; anything else passes."""
        return False

    def dropping(self, frame: Frame) -> bool:
        """Whether ``frame`` is marked to be dropped on its way out."""
        return frame.id in self._marked

    async def _member_pushing(self, member: FrameProcessor, frame: Frame) -> None:
        if (member is not self.active or member is self.muted) and self.stale(frame):
            self.mark(frame)

    async def push_frame(
        self, frame: Frame, direction: FrameDirection = FrameDirection.DOWNSTREAM
    ) -> None:
        if frame.id in self._marked:
            del self._marked[frame.id]
            return
        await super().push_frame(frame, direction)

    # ---- switching -------------------------------------------------------------------------

    async def member_failed(self, error: ErrorFrame) -> FrameProcessor | None:
        """The active member reported ``error``: the new active member if the group moved
        (the error then goes no further), else None."""
        return None

    async def _member_error(self, member: FrameProcessor, error: ErrorFrame) -> None:
        """A member that is not active failed again (a reconnect that did not work): its
        backoff starts over, so it is not taken back while it is still failing."""
        if member is not self.active:
            self.health[id(member)].failed(
                classify(error), describe(error), self.policy, time.monotonic()
            )

    def new_turn(self) -> None:
        """A turn boundary: the switch budget (``max_switches_per_turn``) starts over."""
        self._switches_in_turn = 0

    def may_switch(self) -> bool:
        """A healthy-looking active member is switched away from at most
        ``max_switches_per_turn`` times a turn (no flapping); one that can no longer work
        always may be."""
        return (
            self._switches_in_turn < self.policy.max_switches_per_turn or not self.active.is_usable
        )

    def next_member(self) -> FrameProcessor | None:
        """The member to move to from the active one: the next in order of preference that
        can work and whose backoff has run out, else the next that can work at all."""
        now = time.monotonic()
        current = self.active
        start = self.members.index(current)
        order = [self.members[(start + i) % len(self.members)] for i in range(1, len(self.members))]
        usable = [m for m in order if m.is_usable]
        due = [m for m in usable if self.health[id(m)].due(now)]
        found = due or usable
        return found[0] if found else None

    def preferred_due(self) -> FrameProcessor | None:
        """A member preferred to the active one whose backoff has run out (recovery)."""
        now = time.monotonic()
        for member in self.members[: self.members.index(self.active)]:
            health = self.health[id(member)]
            if not health.healthy and health.due(now):
                return member
        return None

    async def switch(
        self,
        to: FrameProcessor,
        *,
        reason: Reason | str,
        detail: str,
        after_secs: float | None = None,
        replayed: bool = False,
        failed: bool = False,
    ) -> None:
        """Make ``to`` the active member and record it. ``failed``: the member left behind
        failed (its backoff starts); otherwise it is a recovery or a manual switch."""
        current = self.active
        now = time.monotonic()
        if failed:
            why = reason if isinstance(reason, Reason) else Reason.ERROR
            self.health[id(current)].failed(why, detail, self.policy, now)
        # Pipecat's own switch asks the new service for its metadata (an STT's latency, read
        # by the turn strategies), so the rest of the pipeline knows what it now talks to.
        await to.queue_frame(ServiceSwitcherRequestMetadataFrame(service=to))
        self.strategy.choose(to)
        self._switches_in_turn += 1
        event = FailoverEvent(
            stage=self.stage,
            from_provider=self.label(current),
            to_provider=self.label(to),
            reason=str(reason),
            detail=detail,
            after_secs=None if after_secs is None else round(after_secs, 3),
            replayed=replayed,
        )
        self.record(event)

    def record(self, event: FailoverEvent) -> None:
        """Keep ``event`` and give it to the log, the counter and the listeners (at once, or
        at the next turn boundary when ``defer_records`` is set)."""
        self.events.append(event)
        if self.defer_records:
            record_switch(event)  # the log line and the counter now
            self._deferred.append(event)
        else:
            record_switch(event, self._listeners)

    def file_deferred(self) -> None:
        """Give the listeners the switches held for the turn that has just begun."""
        deferred, self._deferred = self._deferred, []
        for event in deferred:
            for listener in self._listeners:
                try:
                    listener(event)
                except Exception as e:  # a listener's bug must not cost the call its stage
                    logger.opt(exception=e).error(f"voicebot: failover listener raised {e}")

    def recovered(self, member: FrameProcessor) -> None:
        """``member`` did its job: it is healthy again."""
        health = self.health[id(member)]
        if not health.healthy:
            logger.info(f"voicebot failover: {self.stage} {health.name} is healthy again")
        health.succeeded()
