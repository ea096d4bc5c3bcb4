"""The two ends of a text conversation's pipeline: typed words in, the reply's text out.

A text session has no audio, so these stand where a voice session has its transport, STT
and TTS:

- ``TextInput`` heads the pipeline and hands on what ``TextChat`` queues into the worker: a
  message becomes the frames a speech service with its own turn detection would send
  (``message_frames``): Pipecat's ``ProposedUserStartedSpeakingFrame``, the words as a final
  ``TranscriptionFrame``, then ``ProposedUserStoppedSpeakingFrame``, which Pipecat's
  ``ExternalUserTurnStart/StopStrategy`` resolve into the user turn (no VAD, no timeout). The
  message is also framed by ``VADUserStarted/StoppedSpeakingFrame`` with zero ``start_secs``
  / ``stop_secs`` at the moment it arrived: those are what Pipecat's latency observer and
  ``TurnLog`` time a turn from, so ``TurnRecord.voice_to_voice_secs`` is "message in to
  first reply text out".
- ``TextOutput`` stands where the TTS and the output transport are: it hands each piece of
  the reply's text to a listener (``TextChat``) and, as an output transport does for audio,
  says ``BotStartedSpeakingFrame`` at a reply's first text and ``BotStoppedSpeakingFrame``
  at its end, which is what completes a turn's ``TurnRecord``. A ``TTSSpeakFrame`` (the
  greeting, ``Session.say``, a tool's filler) is sent as text and committed to the context
  as a TTS service commits what it spoke.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Frame,
    FunctionCallInProgressFrame,
    InterruptionFrame,
    LLMAssistantPushAggregationFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    ProposedUserStartedSpeakingFrame,
    ProposedUserStoppedSpeakingFrame,
    TextFrame,
    TranscriptionFrame,
    TTSSpeakFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.transports.base_transport import BaseTransport
from pipecat.utils.time import time_now_iso8601

from voicebot.providers.base import BuildContext, TransportProvider


@dataclass(frozen=True)
class ToolCallStarted:
    """The model asked for a tool during the reply (streamed to a client as it happens)."""

    name: str
    call_id: str
    arguments: Any


#: What ``TextOutput`` hands its listener: a piece of the reply's text, or a tool call.
OutputEvent = str | ToolCallStarted


def message_frames(text: str, user_id: str) -> list[Frame]:
    """The frames one typed message enters the pipeline as (see the module docstring)."""
    now = time.time()
    return [
        VADUserStartedSpeakingFrame(start_secs=0.0, timestamp=now),
        ProposedUserStartedSpeakingFrame(),
        TranscriptionFrame(text, user_id, time_now_iso8601(), finalized=True),
        VADUserStoppedSpeakingFrame(stop_secs=0.0, timestamp=now),
        ProposedUserStoppedSpeakingFrame(),
    ]


class TextInput(FrameProcessor):
    """The head of a text pipeline: passes on what is queued into the worker."""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)


class TextOutput(FrameProcessor):
    """Where the reply leaves a text pipeline: text to ``listener``, speaking frames around it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        #: Called with each piece of reply text and each tool call, in order.
        self.listener: Callable[[OutputEvent], None] | None = None
        self._speaking = False
        self._in_reply = False  # between an LLMFullResponseStart and its End

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction is not FrameDirection.DOWNSTREAM:
            await self.push_frame(frame, direction)
            return
        if isinstance(frame, TTSSpeakFrame):
            await self._speak(frame)
            return
        if isinstance(frame, LLMFullResponseStartFrame):
            self._in_reply = True
        elif isinstance(frame, InterruptionFrame):
            self._in_reply = False
            await self.push_frame(frame, direction)
            await self._stop_speaking()
            return
        elif isinstance(frame, FunctionCallInProgressFrame):
            self._tell(ToolCallStarted(frame.function_name, frame.tool_call_id, frame.arguments))
        elif isinstance(frame, LLMTextFrame) and not frame.skip_tts and frame.text:
            await self._start_speaking()
            self._tell(frame.text)
        await self.push_frame(frame, direction)
        if isinstance(frame, LLMFullResponseEndFrame):
            self._in_reply = False
            await self._stop_speaking()

    async def _speak(self, frame: TTSSpeakFrame) -> None:
        """A line to say: sent as text, and committed to the context as a TTS service does
        (by the reply's end inside a reply, by an aggregation push outside one)."""
        text = TextFrame(frame.text)
        text.append_to_context = frame.append_to_context
        await self._start_speaking()
        self._tell(frame.text if not self._in_reply else f" {frame.text} ")
        await self.push_frame(TTSStartedFrame(append_to_context=frame.append_to_context))
        await self.push_frame(text)
        await self.push_frame(TTSStoppedFrame())
        if self._in_reply:
            return
        if frame.append_to_context:
            await self.push_frame(LLMAssistantPushAggregationFrame())
        await self._stop_speaking()

    def _tell(self, event: OutputEvent) -> None:
        if self.listener is not None:
            self.listener(event)

    async def _start_speaking(self) -> None:
        if self._speaking:
            return
        self._speaking = True
        await self.push_frame(BotStartedSpeakingFrame())
        await self.push_frame(BotStartedSpeakingFrame(), FrameDirection.UPSTREAM)

    async def _stop_speaking(self) -> None:
        if not self._speaking:
            return
        self._speaking = False
        await self.push_frame(BotStoppedSpeakingFrame())
        await self.push_frame(BotStoppedSpeakingFrame(), FrameDirection.UPSTREAM)


class TextTransport(BaseTransport):
    """A transport with no audio: ``TextInput`` in, ``TextOutput`` out."""

    def __init__(self) -> None:
        super().__init__(name="TextTransport")
        self._input = TextInput(name="TextInput")
        self._output = TextOutput(name="TextOutput")

    def input(self) -> TextInput:
        return self._input

    def output(self) -> TextOutput:
        return self._output


class TextChannel(TransportProvider):
    """The transport of a text session (``TextChat``): typed messages, text replies."""

    name: ClassVar[str] = "text"

    def build(self, ctx: BuildContext) -> TextTransport:
        return TextTransport()

    def describe(self) -> str:
        return "text"
