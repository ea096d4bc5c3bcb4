"""The Pipecat side of a SIP call: the caller's G.711 audio in, the bot's voice out.

Input: the line's 8 kHz frames are resampled to the bot's input rate and pushed as
``InputAudioRawFrame``s; RFC 4733 digits become ``InputDTMFFrame``s.

Output: Pipecat resamples the bot's audio to 8 kHz in 20 ms chunks (``audio_out_sample_rate``
and ``audio_out_10ms_chunks`` below); a sender task sends one RTP packet every 20 ms on the
loop's clock, the bot's audio when there is some and silence otherwise, like a phone does.
``write_audio_frame`` waits while more than ``MAX_FRAMES_AHEAD`` frames are queued, so the
bot's speech is paced by the line and a barge-in drops at most that much already-sent audio.

A BYE from the caller fires ``on_client_disconnected``; an ``EndFrame`` lets the queued audio
play out, then sends BYE; a ``CancelFrame`` sends BYE at once.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from loguru import logger
from pipecat.audio.dtmf.types import KeypadEntry
from pipecat.audio.utils import create_stream_resampler
from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    InputAudioRawFrame,
    InputDTMFFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
    StartFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.transports.base_input import BaseInputTransport
from pipecat.transports.base_output import BaseOutputTransport
from pipecat.transports.base_transport import BaseTransport, TransportParams

from voicebot.pipecat_compat import emit_event, register_event
from voicebot.transports.sip.line import (
    FRAME_SAMPLES,
    LINE_RATE,
    CallInfo,
    RegistrationError,
    SipLine,
)

FRAME_SECS = FRAME_SAMPLES / LINE_RATE
FRAME_BYTES = FRAME_SAMPLES * 2
#: Frames of the bot's audio queued ahead of the line (3 x 20 ms).
MAX_FRAMES_AHEAD = 3
SILENCE = b"\x00" * FRAME_BYTES


class SIPInput(BaseInputTransport):
    """Starts the line, then feeds what the caller says and presses into the pipeline."""

    def __init__(self, transport: SIPTransport, params: TransportParams) -> None:
        super().__init__(params, name="SIPInput")
        self._transport = transport
        self._inbox: asyncio.Queue[bytes | str] = asyncio.Queue()
        self._feed_task: asyncio.Task[None] | None = None
        self._resampler = create_stream_resampler()

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        line = self._transport.line
        line.on_audio = self._inbox.put_nowait
        line.on_dtmf = self._inbox.put_nowait
        try:
            await line.start()
        except (OSError, RegistrationError) as e:
            await line.close()
            await self.push_error(str(e), exception=e, force_treat_as_permanent=True)
            return
        await self.set_transport_ready(frame)
        if self._feed_task is None:
            self._feed_task = self.create_task(self._feed(), "SIPInput::feed")

    async def stop(self, frame: EndFrame) -> None:
        await self._stop_feed()
        await super().stop(frame)

    async def cancel(self, frame: CancelFrame) -> None:
        await self._stop_feed()
        await super().cancel(frame)

    async def cleanup(self) -> None:
        await self._stop_feed()
        await super().cleanup()  # type: ignore[no-untyped-call]  # Pipecat leaves it untyped

    async def _stop_feed(self) -> None:
        if self._feed_task is not None:
            await self.cancel_task(self._feed_task)
            self._feed_task = None

    async def _feed(self) -> None:
        rate = self.sample_rate
        while True:
            item = await self._inbox.get()
            if isinstance(item, str):
                try:
                    button = KeypadEntry(item)
                except ValueError:  # A-D: valid RFC 4733 events Pipecat has no key for
                    logger.debug(f"{self}: DTMF {item!r} has no Pipecat KeypadEntry; ignored")
                    continue
                await self.push_frame(InputDTMFFrame(button=button))
                continue
            audio = await self._resampler.resample(item, LINE_RATE, rate)
            await self.push_audio_frame(
                InputAudioRawFrame(audio=audio, sample_rate=rate, num_channels=1)
            )


class SIPOutput(BaseOutputTransport):
    """Sends the bot's audio as RTP paced at 20 ms, silence in between; BYE at the end."""

    def __init__(self, transport: SIPTransport, params: TransportParams) -> None:
        super().__init__(params, name="SIPOutput")
        self._transport = transport
        self._frames: deque[bytes] = deque()
        self._sent = asyncio.Event()  # set at every tick: room in the queue, or line gone
        self._sender: asyncio.Task[None] | None = None

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        await self.set_transport_ready(frame)
        if self._sender is None:
            self._sender = self.create_task(self._send_loop(), "SIPOutput::send")

    async def stop(self, frame: EndFrame) -> None:
        await super().stop(frame)  # everything the bot said is in self._frames now
        line = self._transport.line
        # Let it play out: one tick per frame, with slack for a loaded machine.
        limit = asyncio.get_running_loop().time() + (len(self._frames) + 5) * FRAME_SECS * 4
        while self._frames and line.connected and asyncio.get_running_loop().time() < limit:
            self._sent.clear()
            await self._sent.wait()
        await self._finish()

    async def cancel(self, frame: CancelFrame) -> None:
        await super().cancel(frame)
        await self._finish()

    async def cleanup(self) -> None:
        await self._finish()
        await super().cleanup()  # type: ignore[no-untyped-call]  # Pipecat leaves it untyped

    async def _finish(self) -> None:
        if self._sender is not None:
            await self.cancel_task(self._sender)
            self._sender = None
        self._frames.clear()
        self._sent.set()
        await self._transport.line.close()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, InterruptionFrame):
            self._frames.clear()  # what is queued here was never heard
        await super().process_frame(frame, direction)

    async def write_audio_frame(self, frame: OutputAudioRawFrame) -> bool:
        if not self._transport.line.connected:
            return True  # no one on the line (yet, or any more): nothing to send it to
        audio = frame.audio
        for start in range(0, len(audio), FRAME_BYTES):
            chunk = audio[start : start + FRAME_BYTES]
            self._frames.append(chunk + SILENCE[len(chunk) :])
        while len(self._frames) > MAX_FRAMES_AHEAD and self._transport.line.connected:
            self._sent.clear()
            await self._sent.wait()
        return True

    async def _send_loop(self) -> None:
        """One packet per 20 ms on absolute deadlines, so timing errors do not add up."""
        loop = asyncio.get_running_loop()
        line = self._transport.line
        deadline: float | None = None
        while True:
            if not line.connected:
                deadline = None
                self._frames.clear()
                self._sent.set()
                await asyncio.sleep(FRAME_SECS)
                continue
            now = loop.time()
            if deadline is None or now - deadline > 10 * FRAME_SECS:  # (re)start the clock
                deadline = now
            line.send_frame(self._frames.popleft() if self._frames else SILENCE)
            self._sent.set()
            deadline += FRAME_SECS
            await asyncio.sleep(max(0.0, deadline - loop.time()))


class SIPTransport(BaseTransport):
    """Pipecat transport for one SIP call; events ``on_client_connected(transport, info)``
    and ``on_client_disconnected(transport, reason)``."""

    def __init__(self, line: SipLine) -> None:
        super().__init__(name="SIPTransport")
        self.line = line
        self._events: set[asyncio.Task[None]] = set()
        params = TransportParams(
            audio_in_enabled=True,
            audio_out_enabled=True,
            audio_out_sample_rate=LINE_RATE,
            audio_out_10ms_chunks=2,
            audio_out_end_silence_secs=0,
        )
        self._input = SIPInput(self, params)
        self._output = SIPOutput(self, params)
        register_event(self, "on_client_connected")
        register_event(self, "on_client_disconnected")
        line.on_connected = lambda info: self._emit("on_client_connected", info)
        line.on_hangup = lambda reason: self._emit("on_client_disconnected", reason)

    @property
    def call_info(self) -> CallInfo | None:
        """The caller, the Call-ID and the codec, once a call was answered."""
        return self.line.call_info

    def input(self) -> SIPInput:
        return self._input

    def output(self) -> SIPOutput:
        return self._output

    def _emit(self, event: str, arg: Any) -> None:
        task = asyncio.get_running_loop().create_task(emit_event(self, event, arg))
        self._events.add(task)
        task.add_done_callback(self._events.discard)
