"""A session stops within a bound once it is told to, whatever its vendors are doing.

Pipecat stops a pipeline in one of two ways. An ``EndFrame`` queues behind what is in flight
(the rest of a reply is still spoken) and the worker waits for it without limit. A
``CancelFrame`` is a system frame: it overtakes queued frames and cancels each processor's
work, and the worker waits ``cancel_timeout_secs`` (20 s) for it. Either could leave a
session running long after its caller had gone (issue #13, "no zombies"):

- a cancel that follows an end waits in the worker's push queue until the ``EndFrame`` has
  gone through, and the ``EndFrame`` waits behind a hung LLM request or a stalled TTS
  (a cancel after an end was measured waiting 118 s);
- a processor whose own ``cancel()`` hangs holds the ``CancelFrame`` up, and the stages
  after it, the output transport among them, are never told: Pipecat's Deepgram service
  closes its stream over a stalled socket (20 s, and the recorded call's WAV was never
  written).

``BoundedWorker`` is Pipecat's ``PipelineWorker`` with both bounded, whoever asked:

- **an end** (an ``EndFrame`` queued: ``Session.end``, a tool hanging up, Pipecat's own
  policies) is watched for progress: while bot audio goes out it may take as long as the
  speech does; once no audio has gone out for ``end_quiet_secs`` and the ``EndFrame`` has
  still not reached the end of the pipeline, the session is cancelled;
- **a cancel** (a ``CancelFrame`` queued: every transport's "the caller is gone", a failed
  vendor, an idle timeout, the runner) also goes straight into the pipeline, past an
  ``EndFrame`` the push queue may be waiting on (as Pipecat itself sends an interruption
  past it). If no ``CancelFrame`` has reached the end of the pipeline ``cancel_secs`` later,
  one is handed to the pipeline's sink: that releases the worker, which then cleans every
  processor up (cancelling their tasks, the stuck one's included), whether the
  ``CancelFrame`` reached it or not.

A stuck stage is often stuck in its clean-up too (a WebSocket whose closing handshake waits
on a peer that stopped answering: Pipecat gives each processor's task 3 s to cancel). Once a
session had to be forced, ``run_until_released`` waits ``cleanup_secs`` for the clean-up,
then returns and lets it finish in the background, bounded by Pipecat's own limits.

So a session asked to stop returns within about ``cancel_secs`` + ``cleanup_secs`` (a
forced end: ``end_quiet_secs`` more). Processors must not rely on seeing the
``CancelFrame``: an output that writes a file writes it in ``cleanup()`` too (processors
are cleaned up concurrently, so a stuck one does not hold the others back).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from loguru import logger
from pipecat.frames.frames import BotSpeakingFrame, CancelFrame, EndFrame, Frame
from pipecat.pipeline.base_pipeline import BasePipeline
from pipecat.pipeline.pipeline import PipelineSink
from pipecat.pipeline.worker import PipelineWorker
from pipecat.processors.frame_processor import FrameDirection
from pipecat.workers.runner import WorkerRunner

if TYPE_CHECKING:
    from voicebot.memory.memory import MemorySession
    from voicebot.metrics.records import TurnRecord

#: Seconds an end may go without any bot audio going out before it is cancelled: longer
#: than a TTS takes to start a goodbye, far shorter than a hung vendor holds it.
END_QUIET_SECS = 5.0
#: Seconds a cancel may take to reach the end of the pipeline before the worker is released.
CANCEL_SECS = 1.0
#: Seconds a forced session waits for its stages' clean-up before returning without it.
CLEANUP_SECS = 0.5

#: Seconds an ended session's memory may take to save its transcript and extract facts.
FINISH_SECS = 60.0

#: Runners of forced sessions still cleaning up (referenced, so they are not collected).
_lingering: set[asyncio.Future[None]] = set()


class BoundedWorker(PipelineWorker):
    """``PipelineWorker`` whose end and cancel are bounded (see the module docstring).

    ``forced`` says why the worker had to be cancelled or released, when it had to.
    """

    def __init__(
        self,
        pipeline: BasePipeline,
        *,
        end_quiet_secs: float = END_QUIET_SECS,
        cancel_secs: float = CANCEL_SECS,
        cleanup_secs: float = CLEANUP_SECS,
        **kwargs: Any,
    ) -> None:
        super().__init__(pipeline, **kwargs)
        self.end_quiet_secs = end_quiet_secs
        self.cancel_secs = cancel_secs
        self.cleanup_secs = cleanup_secs
        self.forced: str | None = None
        self._started = False
        self._released = asyncio.Event()  # an EndFrame or CancelFrame reached the sink
        self._audio_at = 0.0  # loop time of the last bot audio that reached the sink
        self._watches: list[asyncio.Task[None]] = []
        self._ending = self._cancelling = False
        self.add_reached_downstream_filter((BotSpeakingFrame, EndFrame, CancelFrame))
        self.add_event_handler("on_frame_reached_downstream", self._on_reached)
        self.add_event_handler("on_pipeline_started", self._on_started)

    # ---- PipelineWorker ------------------------------------------------------------------

    async def queue_frame(
        self, frame: Frame, direction: FrameDirection = FrameDirection.DOWNSTREAM
    ) -> None:
        await super().queue_frame(frame, direction)
        if direction is not FrameDirection.DOWNSTREAM or self.has_finished():
            return
        if isinstance(frame, CancelFrame) and not self._cancelling:
            self._cancelling = True
            self._watch(self._bound_cancel(frame.reason))
        elif isinstance(frame, EndFrame) and not self._ending:
            self._ending = True
            self._watch(self._bound_end())

    async def run(self, params: Any) -> None:
        try:
            await super().run(params)
        finally:
            for task in self._watches:
                task.cancel()

    @property
    def released(self) -> bool:
        """An ``EndFrame`` or ``CancelFrame`` has reached the end of the pipeline (the worker
        only cleans up from then on): the session is over."""
        return self._released.is_set()

    async def wait_released(self) -> None:
        await self._released.wait()

    # ---- the bounds ----------------------------------------------------------------------

    def _watch(self, work: Any) -> None:
        self._watches.append(asyncio.get_running_loop().create_task(work, name=f"{self} bound"))

    async def _bound_end(self) -> None:
        loop = asyncio.get_running_loop()
        asked = loop.time()
        while not self._released.is_set():
            left = max(asked, self._audio_at) + self.end_quiet_secs - loop.time()
            if left <= 0:
                break
            await _wait(self._released, left)
        if self._released.is_set() or self.has_finished():
            return
        self.forced = (
            f"the end did not get through: no bot audio for {self.end_quiet_secs:g}s "
            "(a stage was stuck), so the session was cancelled"
        )
        logger.warning(f"{self}: {self.forced}")
        await self.cancel(reason=self.forced)

    async def _bound_cancel(self, reason: str | None) -> None:
        if self._started and not self._released.is_set():
            # Past an EndFrame the push queue may be waiting on; if the queue is free, the
            # frame it pushes is the second and is dropped by the cancelling pipeline.
            await self.pipeline.queue_frame(CancelFrame(reason=reason))
        if await _wait(self._released, self.cancel_secs) or self.has_finished():
            return
        why = (
            f"the cancel did not reach the end of the pipeline within {self.cancel_secs:g}s "
            "(a stage's cancel is stuck): the worker is released and every stage cleaned up"
        )
        self.forced = self.forced or why
        logger.warning(f"{self}: {why}")
        sink = self.pipeline.processors[-1]
        assert isinstance(sink, PipelineSink), f"{sink} is not the worker's sink"
        await sink.queue_frame(CancelFrame(reason=reason))

    # ---- what reaches the end of the pipeline ---------------------------------------------

    async def _on_started(self, _worker: Any, _frame: Any) -> None:
        self._started = True

    async def _on_reached(self, _worker: Any, frame: Frame) -> None:
        if isinstance(frame, BotSpeakingFrame):
            self._audio_at = asyncio.get_running_loop().time()
        else:
            self._released.set()


async def run_until_released(runner: WorkerRunner, worker: PipelineWorker) -> None:
    """``runner.run()``; if ``worker`` had to be forced to stop, return ``cleanup_secs`` after
    it was released even if its stages are still cleaning up (logged; they finish in the
    background). A normal end waits for the whole clean-up, as Pipecat does."""
    running = asyncio.ensure_future(runner.run())
    if not isinstance(worker, BoundedWorker):
        await running
        return
    released = asyncio.ensure_future(worker.wait_released())
    try:
        await asyncio.wait({running, released}, return_when=asyncio.FIRST_COMPLETED)
        if not running.done() and worker.forced is not None:
            await asyncio.wait({running}, timeout=worker.cleanup_secs)
            if not running.done():
                logger.warning(
                    f"{worker}: a stage is still cleaning up {worker.cleanup_secs:g}s after the "
                    "session was released; it finishes in the background"
                )
                _lingering.add(running)
                running.add_done_callback(_lingering.discard)
                return
        await running
    except asyncio.CancelledError:
        running.cancel()  # as when runner.run() itself is cancelled: its workers are too
        await asyncio.wait({running})
        raise
    finally:
        released.cancel()


async def finish_memory(memory: MemorySession, turns: list[TurnRecord], session_id: str) -> None:
    """``memory.finish`` (the transcript saved, facts extracted), at most ``FINISH_SECS``: an
    extraction that asks a hung LLM must not keep the ended session from returning."""
    try:
        await asyncio.wait_for(memory.finish(turns, session_id), FINISH_SECS)
    except TimeoutError:
        logger.error(
            f"memory: saving or extracting from session {session_id} took over "
            f"{FINISH_SECS:g}s and was abandoned"
        )


async def _wait(event: asyncio.Event, timeout: float) -> bool:
    """Whether ``event`` is set within ``timeout`` seconds."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout)
    return event.is_set()
