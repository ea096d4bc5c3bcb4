"""The LLM fallback group's processor on its own, in a real Pipecat pipeline, for what a whole
call does not show reliably: a deadline that fires in the same step as the vendor's error,
frames queued behind a request the group had to abort, and a fault as the call ends.

The members are test LLMs that answer, fail or hang on cue; nothing waits on a clock to
decide an outcome (a budget that must run out is a fraction of a second, and the pipeline is
waited for with a generous bound).
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from pipecat.frames.frames import (
    EndFrame,
    Frame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TTSSpeakFrame,
)
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.llm_service import LLMService

from tests.contract.conftest import Harness
from tests.unit.failover_pipelines import start, stop_pipelines  # noqa: F401  (the fixture)
from voicebot.failover.llm_switcher import FailoverLLMSwitcher
from voicebot.failover.policy import FailoverPolicy, Reason
from voicebot.providers.base import BuildContext, LLMProvider, llm_settings

HANG = "<hang>"
#: A budget that runs out at once where a test needs a member to miss it.
SHORT = FailoverPolicy(llm_first_token_secs=0.2, llm_local_first_token_secs=0.2)


class ScriptedLLM(LLMService):
    """Answers each request with the next reply of its script; ``HANG`` answers nothing
    until it is stopped or ``release`` is set."""

    def __init__(self, *replies: str) -> None:
        super().__init__(settings=llm_settings("scripted"))
        self.replies = list(replies)
        self.asked = 0
        self.release = asyncio.Event()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if not isinstance(frame, LLMContextFrame):
            await self.push_frame(frame, direction)
            return
        self.asked += 1
        reply = self.replies.pop(0) if self.replies else "No more."
        await self.push_frame(LLMFullResponseStartFrame())
        try:
            if reply == HANG:
                await self.release.wait()
            else:
                await self.push_frame(LLMTextFrame(reply))
        finally:
            await self.push_frame(LLMFullResponseEndFrame())


class Scripted(LLMProvider):
    name: ClassVar[str] = "scripted"

    def build(self, ctx: BuildContext) -> Any:
        raise NotImplementedError  # the tests build the services themselves


def switcher(*members: ScriptedLLM, policy: FailoverPolicy = SHORT) -> FailoverLLMSwitcher:
    return FailoverLLMSwitcher(
        list(members),
        providers=[Scripted() for _ in members],
        policy=policy,
        one_moment="One moment.",
    )


def ask() -> LLMContextFrame:
    return LLMContextFrame(LLMContext(messages=[{"role": "user", "content": "Do you open today?"}]))


def said(h: Harness) -> list[str]:
    """What went downstream to be spoken, in order."""
    return [
        f.text
        for f in h.frames(Frame, FrameDirection.DOWNSTREAM)
        if isinstance(f, (LLMTextFrame, TTSSpeakFrame))
    ]


async def test_a_deadline_firing_with_the_vendors_error_does_not_fail_the_next_member() -> None:
    """The primary's deadline fires and, in the same step, its error arrives: the error moves
    the request to the fallback, whose own deadline is armed. The deadline that fired was the
    primary's and must not fail the fallback over before it was even asked."""
    primary, fallback = ScriptedLLM(HANG), ScriptedLLM("We open at nine.")
    group = switcher(primary, fallback, policy=FailoverPolicy(llm_first_token_secs=60))
    h = await start(group)
    await h.push(ask())
    while not primary.asked:
        await asyncio.sleep(0.01)
    [request] = group._requests
    assert request.timer is not None
    request.timer.cancel()
    group._expire(request, primary, Reason.NO_FIRST)  # what the timer does when it fires
    await primary.push_error("Error during completion: 500")  # in the same step
    await primary.push_frame(LLMFullResponseEndFrame())

    await h.wait_for(LLMTextFrame, where=lambda f: f.text == "We open at nine.")
    await asyncio.sleep(0)  # the deadline's task has run
    assert said(h) == ["We open at nine."]
    assert [(e.to_provider, e.reason) for e in group.events] == [("Scripted", "error")]
    assert fallback.asked == 1
    primary.release.set()  # its own request ends (the error above was the test's)
    await h.stop()


async def test_frames_behind_a_hung_request_follow_the_fallbacks_answer() -> None:
    """The hung primary is stopped with an interruption, which flushes its queue: what waited
    there behind the request (a line to speak) is passed on after the fallback's answer."""
    primary, fallback = ScriptedLLM(HANG), ScriptedLLM("We open at nine.")
    h = await start(switcher(primary, fallback))
    await h.push(ask(), TTSSpeakFrame("Anything else?"))

    await h.wait_for(TTSSpeakFrame)
    assert said(h) == ["One moment.", "We open at nine.", "Anything else?"]
    await h.stop()


async def test_a_hang_as_the_call_ends_says_no_filler_and_keeps_the_goodbye() -> None:
    """The call ends (a goodbye, then the EndFrame) while the primary hangs: once its budget
    is out the goodbye is said and the call ends. No "One moment." for an answer that cannot
    come (every member has its EndFrame), and no request to the stopped fallback."""
    primary, fallback = ScriptedLLM(HANG), ScriptedLLM("We open at nine.")
    h = await start(switcher(primary, fallback))
    await h.push(ask(), TTSSpeakFrame("Goodbye."), EndFrame())

    await h.wait_for(EndFrame)
    assert said(h) == ["Goodbye."]
    assert fallback.asked == 0
    await h.stop()  # it has ended by itself
