"""Every task a session starts is owned and ends with it: RAG searches and the WebRTC
audio watchdog do not outlive their session."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from pipecat.frames.frames import TranscriptionFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.tests.utils import run_test

from voicebot.knowledge import Retrieval
from voicebot.testing import FakeRetriever
from voicebot.transports.webrtc import WebRTCPeer


class Stuck(FakeRetriever):
    """Every search hangs until cancelled (a vector DB that never answers)."""

    def __init__(self) -> None:
        super().__init__({"hours": "We open at nine."})
        self.started: list[str] = []
        self.cancelled: list[str] = []

    async def retrieve(self, query: str, k: int) -> Any:
        self.started.append(query)
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.append(query)
            raise
        raise AssertionError("unreachable")


def transcript(text: str) -> TranscriptionFrame:
    return TranscriptionFrame(text, user_id="caller", timestamp="")


def search_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if "RetrievalStarter" in t.get_name()]


async def test_a_search_still_running_is_cancelled_when_the_session_ends() -> None:
    kb = Stuck()
    run = Retrieval(kb).for_session()
    await run_test(
        Pipeline([run.starter()]),
        frames_to_send=[transcript("What are your hours?")],
        expected_down_frames=[TranscriptionFrame],
    )  # ends with an EndFrame, as a call does
    for _ in range(20):  # let the cancellation land
        await asyncio.sleep(0)
    assert kb.started == ["What are your hours?"]
    assert kb.cancelled == ["What are your hours?"]
    assert not run.running and not search_tasks()


async def test_a_search_overtaken_by_a_longer_transcript_is_cancelled() -> None:
    kb = Stuck()
    run = Retrieval(kb, short_query_words=0).for_session()
    await run_test(
        Pipeline([run.starter()]),
        frames_to_send=[transcript("What are"), transcript("your hours?")],
        expected_down_frames=[TranscriptionFrame, TranscriptionFrame],
    )
    for _ in range(20):
        await asyncio.sleep(0)
    # The first was cancelled when the second replaced it (here before it even began),
    # the second when the session ended: none is left running.
    assert kb.started[-1] == "What are your hours?"
    assert kb.cancelled == kb.started
    assert not search_tasks()


# ---- the WebRTC audio watchdog -------------------------------------------------------------

Handler = Callable[..., Awaitable[None]]


class Events:
    """The event-handler surface of a transport or a worker, recorded."""

    def __init__(self) -> None:
        self.handlers: dict[str, list[Handler]] = {}
        self.finished = False
        self.cancelled: list[str] = []

    def add_event_handler(self, name: str, handler: Handler) -> None:
        self.handlers.setdefault(name, []).append(handler)

    async def fire(self, name: str, *args: Any) -> None:
        for handler in self.handlers.get(name, []):
            await handler(*args)

    def has_finished(self) -> bool:
        return self.finished

    async def cancel(self, *, reason: str | None = None) -> None:
        self.cancelled.append(reason or "")


class Connection:
    """A peer connection that stays connected and never reports audio stats."""

    pc_id = "pc-1"

    class pc:  # the attribute Pipecat's connection has
        connectionState = "connected"

        @staticmethod
        def getTransceivers() -> list[Any]:
            return []


def watchdogs() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("WebRTCPeer audio watchdog")]


async def test_the_webrtc_watchdog_ends_with_its_session() -> None:
    transport, worker = Events(), Events()

    async def end() -> None:
        pass

    WebRTCPeer(gone_after_secs=60).on_client_gone(transport, worker, end)
    await transport.fire("on_client_connected", transport, Connection())
    await transport.fire("on_client_connected", transport, Connection())  # renegotiated
    (watchdog,) = watchdogs()  # one per session, however often it connects
    worker.finished = True
    await worker.fire("on_pipeline_finished", worker, None)  # EndFrame, CancelFrame or error
    for _ in range(20):
        await asyncio.sleep(0)
    assert watchdog.cancelled() and not watchdogs()
    assert worker.cancelled == []  # it ended quietly, not by hanging up


async def test_no_watchdog_starts_for_a_session_already_over() -> None:
    transport, worker = Events(), Events()

    async def end() -> None:
        pass

    WebRTCPeer().on_client_gone(transport, worker, end)
    worker.finished = True
    await transport.fire("on_client_connected", transport, Connection())
    assert not watchdogs()
