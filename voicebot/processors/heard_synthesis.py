"""The heard-text stage's synthesis side: how long each clause's audio is, as the TTS makes it.

``HeardTextSynthesis`` sits before the output transport (``voicebot.processors.heard_text``
has the whole story). It measures each clause's audio for the playback side, which maps the
part of a clause that was played onto its characters, and it keeps text the TTS made no audio
for from being recorded as spoken.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Protocol

from loguru import logger
from pipecat.frames.frames import (
    AggregatedTextFrame,
    CancelFrame,
    EndFrame,
    Frame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    OutputAudioRawFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from voicebot.pipecat_compat import SystemTTSTextFrame

_MAX_TRACKED = 64  # TTS contexts remembered as having made audio


class ClauseLengths(Protocol):
    """Where the synthesis side reports each clause's audio (``HeardText``)."""

    def clause_announced(self, segment_id: int) -> None: ...
    def clause_audio(self, segment_id: int, secs: float) -> None: ...
    def clause_synthesized(self, segment_id: int, text: str) -> None: ...


def audio_secs(frame: OutputAudioRawFrame) -> float:
    """Seconds of 16-bit PCM in an audio frame."""
    if frame.sample_rate <= 0 or frame.num_channels <= 0:
        return 0.0
    return len(frame.audio) / (2 * frame.num_channels * frame.sample_rate)


class HeardTextSynthesis(FrameProcessor):
    """Before the output transport: how long each clause's audio is (see ``HeardText``).

    Direct mode: it only counts, in the pushing task, and adds no queue hop.
    """

    def __init__(self, heard: ClauseLengths) -> None:
        super().__init__(name="HeardTextSynthesis", enable_direct_mode=True)
        self._heard = heard
        self._current: int | None = None
        self._voiced: OrderedDict[str, None] = OrderedDict()  # contexts that made audio
        self._held: list[TTSTextFrame] = []  # text of a context with no audio yet
        self._held_context: str | None = None

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction == FrameDirection.DOWNSTREAM:
            if self._unvoiced_text(frame):
                return  # held until its context's audio comes, dropped if none does
            if isinstance(frame, TTSAudioRawFrame) and frame.context_id is not None:
                await self._voiced_context(frame.context_id)
            elif self._held and _ends_context(frame, self._held_context):
                self._drop_held()
            if is_announcement(frame):
                self._current = frame.id
                self._heard.clause_announced(frame.id)
            elif isinstance(frame, TTSAudioRawFrame) and self._current is not None:
                self._heard.clause_audio(self._current, audio_secs(frame))
            elif (
                isinstance(frame, TTSTextFrame)
                and frame.pts is None
                and frame.segment_id is not None
            ):
                self._heard.clause_synthesized(frame.segment_id, frame.text)
        await self.push_frame(frame, direction)

    def _unvoiced_text(self, frame: Frame) -> bool:
        """Hold ``frame`` if it is the text of a TTS context that has made no audio yet."""
        if (
            not isinstance(frame, TTSTextFrame)
            or isinstance(frame, SystemTTSTextFrame)
            or frame.context_id is None
            or frame.context_id in self._voiced
        ):
            return False
        if self._held and self._held_context != frame.context_id:
            self._drop_held()
        self._held_context = frame.context_id
        self._held.append(frame)
        return True

    async def _voiced_context(self, context_id: str) -> None:
        """A context's audio has come: its held text goes on, ahead of the audio."""
        if context_id not in self._voiced:
            self._voiced[context_id] = None
            while len(self._voiced) > _MAX_TRACKED:
                self._voiced.popitem(last=False)
        if self._held and self._held_context == context_id:
            held, self._held, self._held_context = self._held, [], None
            for text in held:
                await self.push_frame(text)
        elif self._held:
            self._drop_held()

    def _drop_held(self) -> None:
        text = " ".join(f.text for f in self._held).strip()
        if text:
            logger.warning(f"{self}: no audio was made for [{text}]; not recorded as spoken")
        self._held, self._held_context = [], None


def _ends_context(frame: Frame, context_id: str | None) -> bool:
    """Whether ``frame`` shows that TTS context ``context_id`` is over (or was cut off)."""
    if isinstance(frame, (TTSStartedFrame, TTSStoppedFrame)):
        return frame.context_id != context_id or isinstance(frame, TTSStoppedFrame)
    return isinstance(
        frame,
        (
            LLMFullResponseStartFrame,
            LLMFullResponseEndFrame,
            InterruptionFrame,
            EndFrame,
            CancelFrame,
        ),
    )


def is_announcement(frame: Frame) -> bool:
    """The TTS's "this clause is about to be spoken" frame, which precedes its audio."""
    return (
        isinstance(frame, AggregatedTextFrame)
        and not isinstance(frame, TTSTextFrame)
        and frame.will_be_spoken
    )
