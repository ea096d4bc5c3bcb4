"""A scripted STT: each time the user stops speaking, the next line of the script is heard."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence
from typing import ClassVar

from pipecat.frames.frames import (
    Frame,
    InterimTranscriptionFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.settings import STTSettings
from pipecat.services.stt_service import STTService
from pipecat.utils.time import time_now_iso8601
from pydantic import Field

from voicebot.providers.base import BuildContext, STTProvider


class ScriptedSTTService(STTService):
    """Pipecat STT service whose transcripts come from a list, not from the audio.

    The n-th time VAD reports the user stopped, it waits ``latency_secs`` (a vendor's
    finalization time) and emits the n-th transcript, finalized. With ``interim=True`` it
    also emits the first word as an interim result when the user starts speaking.
    """

    def __init__(
        self, transcripts: Sequence[str], *, latency_secs: float = 0.1, interim: bool = False
    ) -> None:
        super().__init__(
            settings=STTSettings(model="scripted", language=None), ttfs_p99_latency=latency_secs
        )
        self._script = list(transcripts)
        self._latency = latency_secs
        self._interim = interim
        self._turn = 0
        self._pending: asyncio.Task | None = None
        self.heard_audio_bytes = 0

    async def run_stt(self, audio: bytes) -> AsyncGenerator[Frame | None, None]:
        self.heard_audio_bytes += len(audio)
        yield None

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, VADUserStartedSpeakingFrame) and self._interim:
            text = self._next_text(peek=True)
            if text:
                await self.push_frame(
                    InterimTranscriptionFrame(text.split()[0], "", time_now_iso8601())
                )
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            text = self._next_text()
            if text is not None:
                self._pending = self.create_task(self._emit(text), "ScriptedSTT::emit")

    def _next_text(self, *, peek: bool = False) -> str | None:
        if self._turn >= len(self._script):
            return None
        text = self._script[self._turn]
        if not peek:
            self._turn += 1
        return text

    async def _emit(self, text: str) -> None:
        await asyncio.sleep(self._latency)
        await self.push_frame(TranscriptionFrame(text, "", time_now_iso8601(), finalized=True))


class FakeSTT(STTProvider):
    """Scripted transcripts per user turn, after ``latency_secs``; no audio is analysed."""

    name: ClassVar[str] = "fake"

    transcripts: list[str] = Field(default_factory=list)
    latency_secs: float = Field(default=0.1, ge=0)
    interim: bool = False

    def build(self, ctx: BuildContext) -> ScriptedSTTService:
        return ScriptedSTTService(
            self.transcripts, latency_secs=self.latency_secs, interim=self.interim
        )
