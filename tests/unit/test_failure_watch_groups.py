"""FailureWatch and fallback groups: a session ends only when every member is out, and a
member that answers again is no longer out, whatever put it out."""

from __future__ import annotations

import asyncio
from typing import Any

from pipecat.frames.frames import ErrorFrame
from pipecat.processors.frame_processor import FrameProcessor

from voicebot import OpenAILLM
from voicebot.failures import FailureWatch, _Group


class Worker:
    def __init__(self) -> None:
        self.cancelled: list[str | None] = []

    def add_event_handler(self, *_args: Any) -> None:
        pass

    async def cancel(self, reason: str | None = None) -> None:
        self.cancelled.append(reason)


def refused() -> ErrorFrame:
    error = ConnectionRefusedError("refused")
    return ErrorFrame(error="connection refused", exception=error)


def unauthorized(member: FrameProcessor) -> ErrorFrame:
    frame = ErrorFrame(error="401 Unauthorized")
    frame.processor = member
    return frame


async def test_a_member_taken_back_that_answers_is_not_counted_out() -> None:
    worker = Worker()
    watch = FailureWatch(worker)
    watch._started = True
    a, b = FrameProcessor(name="a"), FrameProcessor(name="b")
    providers = [OpenAILLM(api_key="sk-a"), OpenAILLM(api_key="sk-b")]
    group = _Group("llm", [(a, providers[0]), (b, providers[1])])

    # a cannot be reached before any answer: out; b takes over and answers.
    await watch._on_member_error(group, 0, refused(), providers[0])
    assert set(group.out) == {0}
    group.answered_by(1)
    # a is taken back later and answers: it is no longer out.
    group.answered_by(0)
    assert group.out == {}
    # b's key is then refused for good: a still works, so the call goes on.
    await b.set_usable(False)
    await watch._on_member_error(group, 1, unauthorized(b), providers[1])
    await asyncio.sleep(0)
    assert watch.error is None and worker.cancelled == []


async def test_the_session_ends_once_every_member_is_out() -> None:
    worker = Worker()
    watch = FailureWatch(worker)
    watch._started = True
    a, b = FrameProcessor(name="a"), FrameProcessor(name="b")
    providers = [OpenAILLM(api_key="sk-a"), OpenAILLM(api_key="sk-b")]
    group = _Group("llm", [(a, providers[0]), (b, providers[1])])
    await watch._on_member_error(group, 0, refused(), providers[0])
    await b.set_usable(False)
    await watch._on_member_error(group, 1, unauthorized(b), providers[1])
    await asyncio.sleep(0)
    assert watch.error is not None
    assert str(watch.error).startswith("every llm provider failed: ")
    assert len(worker.cancelled) == 1
