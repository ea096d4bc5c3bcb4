"""Fixtures for the contract tests: local vendor servers on loopback, and a pipeline harness.

``deepgram_server`` / ``cartesia_server`` start a server speaking the vendor's protocol on
127.0.0.1 and a free port (the OS picks it), and stop it after the test. The ``*_factory``
fixtures start one with non-default behaviour (rejecting keys, dropping the connection,
answering errors). ``harness`` runs one built Pipecat service in a real ``PipelineWorker``,
lets the test push frames in and wait for what comes out, in either direction.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from pipecat.frames.frames import EndFrame, Frame, StartFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.workers.runner import WorkerRunner

from tests.contract.servers.cartesia_tts import CartesiaTTSServer
from tests.contract.servers.deepgram_live import DeepgramLiveServer
from tests.contract.servers.elevenlabs_tts import ElevenLabsTTSServer
from tests.contract.servers.ws_server import LocalWebSocketServer

F = TypeVar("F", bound=Frame)

#: Sample rates the harness runs the pipeline at, as a voicebot ``BuildContext`` would.
AUDIO_IN_RATE = 16000
AUDIO_OUT_RATE = 24000


async def _servers(kind: type[LocalWebSocketServer]) -> AsyncIterator[Callable[..., Any]]:
    """A factory of ``kind`` servers, each stopped when the test is over."""
    started: list[LocalWebSocketServer] = []

    async def start(**options: Any) -> LocalWebSocketServer:
        server = await kind(**options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        await server.stop()


@pytest.fixture
async def deepgram_server_factory() -> AsyncIterator[Callable[..., Any]]:
    async for factory in _servers(DeepgramLiveServer):
        yield factory


@pytest.fixture
async def deepgram_server(deepgram_server_factory: Callable[..., Any]) -> DeepgramLiveServer:
    return await deepgram_server_factory()


@pytest.fixture
async def cartesia_server_factory() -> AsyncIterator[Callable[..., Any]]:
    async for factory in _servers(CartesiaTTSServer):
        yield factory


@pytest.fixture
async def cartesia_server(cartesia_server_factory: Callable[..., Any]) -> CartesiaTTSServer:
    return await cartesia_server_factory()


@pytest.fixture
async def elevenlabs_server_factory() -> AsyncIterator[Callable[..., Any]]:
    async for factory in _servers(ElevenLabsTTSServer):
        yield factory


@pytest.fixture
async def elevenlabs_server(elevenlabs_server_factory: Callable[..., Any]) -> ElevenLabsTTSServer:
    return await elevenlabs_server_factory()


# ---- the pipeline harness ----------------------------------------------------------------------


@dataclass
class Seen:
    """A frame that came out of the service, when, and which way it was going."""

    at: float
    frame: Frame
    direction: FrameDirection


class _Capture(FrameProcessor):
    """Records the frames going one way past it, and lets everything through."""

    def __init__(self, harness: Harness, direction: FrameDirection) -> None:
        super().__init__(enable_direct_mode=True)
        self._harness = harness
        self._direction = direction

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction == self._direction and not isinstance(frame, StartFrame):
            await self._harness._record(frame, direction)
        await self.push_frame(frame, direction)


class Harness:
    """``[capture upstream] -> service -> [capture downstream]`` in a running PipelineWorker."""

    def __init__(self, service: FrameProcessor, params: PipelineParams | None = None) -> None:
        self.service = service
        self.seen: list[Seen] = []
        self._changed = asyncio.Condition()
        self._params = params or PipelineParams(
            audio_in_sample_rate=AUDIO_IN_RATE, audio_out_sample_rate=AUDIO_OUT_RATE
        )
        self._worker: PipelineWorker | None = None
        self._run: asyncio.Task[None] | None = None
        self.ended = False

    async def _record(self, frame: Frame, direction: FrameDirection) -> None:
        async with self._changed:
            self.seen.append(Seen(time.monotonic(), frame, direction))
            self._changed.notify_all()

    async def start(self, timeout: float = 5.0) -> Harness:
        pipeline = Pipeline(
            [
                _Capture(self, FrameDirection.UPSTREAM),
                self.service,
                _Capture(self, FrameDirection.DOWNSTREAM),
            ]
        )
        self._worker = PipelineWorker(
            pipeline, params=self._params, cancel_on_idle_timeout=False, idle_timeout_secs=None
        )
        started = asyncio.Event()

        @self._worker.event_handler("on_pipeline_started")
        async def _on_started(worker: PipelineWorker, frame: Frame) -> None:
            started.set()

        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(self._worker)
        self._run = asyncio.create_task(runner.run())
        waiter = asyncio.create_task(started.wait())
        done, _ = await asyncio.wait(
            {waiter, self._run}, timeout=timeout, return_when="FIRST_COMPLETED"
        )
        if waiter not in done:
            waiter.cancel()
            raise AssertionError(f"pipeline did not start within {timeout}s")
        return self

    async def push(
        self, *frames: Frame, direction: FrameDirection = FrameDirection.DOWNSTREAM
    ) -> None:
        assert self._worker is not None
        for frame in frames:
            await self._worker.queue_frame(frame, direction)

    def frames(self, kind: type[F], direction: FrameDirection | None = None) -> list[F]:
        return [
            s.frame
            for s in self.seen
            if isinstance(s.frame, kind) and (direction is None or s.direction == direction)
        ]

    async def wait_for(
        self,
        kind: type[F],
        *,
        where: Callable[[F], bool] = lambda f: True,
        direction: FrameDirection | None = None,
        count: int = 1,
        timeout: float = 5.0,
    ) -> list[F]:
        """Wait until ``count`` frames of ``kind`` matching ``where`` have come out."""

        def matching() -> list[F]:
            return [f for f in self.frames(kind, direction) if where(f)]

        try:
            async with asyncio.timeout(timeout):
                async with self._changed:
                    await self._changed.wait_for(lambda: len(matching()) >= count)
        except TimeoutError:
            names = [type(s.frame).__name__ for s in self.seen]
            raise AssertionError(
                f"waited {timeout}s for {count} {kind.__name__}, got {len(matching())}; "
                f"frames seen: {names}"
            ) from None
        return matching()

    async def stop(self, timeout: float = 5.0) -> float:
        """End the pipeline with an EndFrame; fail if it doesn't end within ``timeout``."""
        assert self._worker is not None and self._run is not None
        began = time.monotonic()
        if not self._run.done():
            await self._worker.queue_frame(EndFrame())
        try:
            await asyncio.wait_for(asyncio.shield(self._run), timeout)
        except TimeoutError:
            await self._worker.cancel()
            await asyncio.wait_for(self._run, 5)
            raise AssertionError(f"pipeline did not end within {timeout}s of EndFrame") from None
        self.ended = True
        return time.monotonic() - began

    async def abort(self) -> None:
        if self._worker is not None and self._run is not None and not self._run.done():
            await self._worker.cancel()
            try:
                await asyncio.wait_for(self._run, 5)
            except TimeoutError:
                self._run.cancel()


@pytest.fixture
async def harness() -> AsyncIterator[Callable[..., Any]]:
    """``await harness(service)`` starts a pipeline around ``service``; torn down after the test."""
    made: list[Harness] = []

    async def make(service: FrameProcessor, params: PipelineParams | None = None) -> Harness:
        h = Harness(service, params)
        made.append(h)
        return await h.start()

    yield make
    for h in made:
        if not h.ended:
            await h.abort()
