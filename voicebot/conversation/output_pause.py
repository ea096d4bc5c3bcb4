"""The bot's audio held at the output transport while speech over it is ruled on, and let go
or dropped after (``voicebot.conversation.barge_in`` rules; this module only holds).

``OutputPause`` wraps the output transport's ``write_audio_frame`` on that instance;
``InterruptionPassed``, placed after the transport, tells it when an interruption has
cleared the transport's queue, and holds word-timing frames during a pause.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from loguru import logger
from pipecat.frames.frames import Frame, InterruptionFrame, SystemFrame, TTSTextFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor


class OutputPause:
    """Holds the bot's audio at the output transport without dropping it.

    ``attach(output)`` wraps the transport's ``write_audio_frame`` on that instance: while
    held, a write waits (the transport's queue keeps the rest of the reply); ``resume()``
    lets it through; ``drop()`` discards the held chunk once the interruption that clears
    the queue has passed the transport (``interruption_passed``), so no queued audio slips
    out between the decision and the clearing. Every hold ends by itself after
    ``max_hold_secs``, so a lost decision cannot silence a call.
    """

    def __init__(self, *, max_hold_secs: float = 3.0) -> None:
        self.max_hold_secs = max_hold_secs
        self._open = asyncio.Event()
        self._open.set()
        self._dropping = False
        self._waiting = False  # a write is held now
        self.holds = 0  # pauses so far
        self.resumes = 0
        #: How each pause was ruled: "barge_in", "backchannel" or "noise", in order.
        self.decisions: list[str] = []
        #: The words transcribed of each ruled sound when it was ruled ("" if none yet),
        #: in the same order: what a false stop or a missed barge-in was heard as.
        self.heard: list[str] = []
        #: Called (awaited) when the bot speaks on after a pause.
        self.on_resume: Callable[[], Awaitable[None]] | None = None

    @property
    def held(self) -> bool:
        return not self._open.is_set()

    def attach(self, output: Any) -> None:
        write = output.write_audio_frame

        async def paused_write(frame: Any) -> bool:
            if not self._open.is_set():
                self._waiting = True
                try:
                    await asyncio.wait_for(self._open.wait(), self.max_hold_secs)
                except TimeoutError:
                    logger.warning("barge-in: audio held too long; playing on")
                    if not self._dropping:
                        await self.resume()
                    self._open.set()
                finally:
                    self._waiting = False
                if self._dropping:
                    self._dropping = False
                    return False  # not written: the heard-text stage does not count it
            return await write(frame)

        output.write_audio_frame = paused_write

    def hold(self) -> None:
        if self._open.is_set():
            self.holds += 1
            self._open.clear()

    async def resume(self) -> None:
        if self.held and not self._dropping:
            self.resumes += 1
            self._open.set()
            if self.on_resume is not None:
                await self.on_resume()

    def drop(self) -> None:
        """The reply is being interrupted: the held chunk goes when the queue is cleared."""
        if self.held:
            self._dropping = True

    def interruption_passed(self) -> None:
        if self.held:
            self._open.set()
            if not self._waiting:  # no chunk held (the queue was empty): nothing to drop
                self._dropping = False


class InterruptionPassed(FrameProcessor):
    """Placed after the output transport. An ``InterruptionFrame`` here means the transport
    has cleared its queue, so a held chunk can be let go (dropped) without replaying it.

    It also keeps word timing true during a pause: a TTS with word timestamps has its words
    released by the transport's clock, which a pause does not stop, so words due while the
    audio is held are held here too: dropped if the pause ends in a barge-in (never heard),
    passed on when the bot speaks on.
    """

    def __init__(self, pause: OutputPause) -> None:
        super().__init__(name="BargeInRelease")
        self._pause = pause
        self._held: list[Frame] = []
        pause.on_resume = self._flush

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InterruptionFrame):
            self._held = [f for f in self._held if not isinstance(f, TTSTextFrame)]
            self._pause.interruption_passed()
            await self._flush()
        elif (
            direction is FrameDirection.DOWNSTREAM
            and self._pause.held
            and not isinstance(frame, SystemFrame)
        ):
            self._held.append(frame)
            return
        await self.push_frame(frame, direction)

    async def _flush(self) -> None:
        held, self._held = self._held, []
        for frame in held:
            await self.push_frame(frame)
