"""A caller made of files: play a WAV into the bot, record the bot's reply to a WAV.

The output file shares the input's timeline: sample N of the output is what the caller heard
at the moment sample N of the input was being spoken, with silence wherever the bot was
silent. So end-of-speech in one file and start-of-reply in the other give the voice-to-voice
latency a caller would feel, measured by anyone with an audio editor.

Playback is paced like a real caller (``speed=1``); ``speed>1`` compresses the wall clock for
quick runs; a gap of ``g`` seconds on the files is then ``g / speed`` seconds of wall time.
Up to ``MAX_SPEED``: beyond it the pipeline cannot keep up and the shared timeline is a lie.
How far the pipeline fell behind the caller is measured (``WavFileTransport.lag_secs``) and
``run_conversation`` warns when it is more than ``LAG_WARN_SECS``.

The call ends once the file has played, no answer is pending (the session's
``ConversationState``: the caller's last turn has been answered, or nothing was asked) and the
bot has been quiet for ``linger_secs``; or, if an answer never comes (a hung LLM),
``max_wait_secs`` after the file ended, with ``WavFileTransport.gave_up`` saying what it was
still waiting for.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import ClassVar

import numpy as np
from loguru import logger
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    CancelFrame,
    EndFrame,
    Frame,
    InputAudioRawFrame,
    OutputAudioRawFrame,
    StartFrame,
    VADUserStartedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.transports.base_input import BaseInputTransport
from pipecat.transports.base_output import BaseOutputTransport
from pipecat.transports.base_transport import BaseTransport, TransportParams
from pydantic import Field, field_validator

from voicebot.audio.wav import AudioFileError, Pcm, read_wav, write_wav
from voicebot.conversation.state import ConversationState
from voicebot.errors import ConfigError
from voicebot.pipecat_compat import emit_event, register_event
from voicebot.providers.base import BuildContext, TransportProvider

FRAME_SECS = 0.02
#: The fastest a recorded caller may be played. At 40x even examples/fake_bot.py ends up
#: seconds behind; below 10x, the lag check of each run says whether this machine kept up.
MAX_SPEED = 10.0
#: Seconds of the caller's timeline the pipeline may fall behind before a run is flagged.
LAG_WARN_SECS = 0.5
#: Wall-clock seconds after the input has played that a call waits for a pending answer.
MAX_WAIT_SECS = 60.0
#: Where on the caller's timeline an input frame was handed over (``Frame.metadata``).
POSITION_KEY = "voicebot.wav_position"


class Timeline:
    """Seconds of the caller's input timeline, shared by both sides of the transport.

    Read on the running event loop's clock (``time.monotonic`` in production): a test loop
    with a virtual clock (``voicebot.testing.virtual_time``) then paces the call on its own.
    """

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self._start: float | None = None

    @staticmethod
    def clock() -> float:
        """The running loop's time (``time.monotonic`` outside one)."""
        try:
            return asyncio.get_running_loop().time()
        except RuntimeError:
            return time.monotonic()

    def start(self) -> None:
        if self._start is None:
            self._start = self.clock()

    def now(self) -> float:
        self.start()
        assert self._start is not None
        return (self.clock() - self._start) * self.speed

    def wall_at(self, position: float) -> float:
        self.start()
        assert self._start is not None
        return self._start + position / self.speed


class WavInput(BaseInputTransport):
    """Feeds the file as 20 ms microphone frames, then silence until the bot has finished."""

    def __init__(self, transport: WavFileTransport, params: TransportParams) -> None:
        super().__init__(params, name="WavInput")
        self._transport = transport
        self._feed_task: asyncio.Task[None] | None = None
        self._stopped = False

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        await self.set_transport_ready(frame)
        if self._feed_task is None and not self._stopped:
            self._feed_task = self.create_task(self._feed(), "WavInput::feed")

    async def stop(self, frame: EndFrame) -> None:
        await self._stop_feed()
        await super().stop(frame)

    async def cancel(self, frame: CancelFrame) -> None:
        await self._stop_feed()
        await super().cancel(frame)

    async def cleanup(self) -> None:
        # A session torn down before the CancelFrame reached this stage (a stage failing at
        # start) calls neither stop nor cancel here: without this the feed outlives it.
        await self._stop_feed()
        await super().cleanup()  # type: ignore[no-untyped-call]  # Pipecat leaves it untyped

    async def _stop_feed(self) -> None:
        self._stopped = True
        if self._feed_task is not None:
            await self.cancel_task(self._feed_task)
            self._feed_task = None

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        t = self._transport
        if t.owns_conversation and isinstance(
            frame, (VADUserStartedSpeakingFrame, BotStartedSpeakingFrame, BotStoppedSpeakingFrame)
        ):
            t.conversation.apply(frame, direction)  # pushed upstream to here
        await super().process_frame(frame, direction)

    async def _feed(self) -> None:
        t = self._transport
        rate = self.sample_rate
        try:
            pcm = read_wav(t.input_path, rate)
        except AudioFileError as e:  # changed since the check: end the call, do not hang
            t.input_error = str(e)
            await t.finish()
            return
        step = int(rate * FRAME_SECS)
        data = pcm.to_bytes()
        silence = b"\x00" * step * 2
        t.timeline.start()
        k = 0
        while True:
            # A microphone hands over a frame once it has been spoken: frame k at (k+1)*20 ms.
            delay = t.timeline.wall_at((k + 1) * FRAME_SECS) - t.timeline.clock()
            if delay > 0:
                await asyncio.sleep(delay)
            chunk = data[k * step * 2 : (k + 1) * step * 2]
            if len(chunk) < step * 2:
                if not t.input_done.is_set():
                    t.input_done.set()
                    t.input_ended_at = t.timeline.clock()
                    logger.debug(f"{self}: input file played ({pcm.duration_secs:.2f}s)")
                if t.finished():
                    await t.finish()
                    return
                chunk = chunk + silence[len(chunk) :]
            frame = InputAudioRawFrame(audio=chunk, sample_rate=rate, num_channels=1)
            frame.metadata[POSITION_KEY] = (k + 1) * FRAME_SECS  # for the lag check
            await self.push_audio_frame(frame)
            k += 1


class WavOutput(BaseOutputTransport):
    """Writes the bot's audio at the caller's timeline position, paced like a sound card."""

    def __init__(self, transport: WavFileTransport, params: TransportParams) -> None:
        super().__init__(params, name="WavOutput")
        self._transport = transport
        self._buffer = bytearray()
        self._cursor = 0.0  # seconds of output timeline written
        self._saved = False

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        await self.set_transport_ready(frame)

    async def stop(self, frame: EndFrame) -> None:
        await super().stop(frame)
        self._save()

    async def cancel(self, frame: CancelFrame) -> None:
        await super().cancel(frame)
        self._save()

    async def cleanup(self) -> None:
        # A session released past a stage stuck in its own cancel (voicebot.session_end)
        # never sends this stage the CancelFrame: the file is still written.
        self._save()
        await super().cleanup()  # type: ignore[no-untyped-call]  # Pipecat leaves it untyped

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        # The caller's audio passes every stage before it gets here: how late a frame
        # arrives, against its place on the timeline, is how far behind the bot hears.
        t = self._transport
        if isinstance(frame, InputAudioRawFrame) and POSITION_KEY in frame.metadata:
            t.lag_secs = max(t.lag_secs, t.timeline.now() - frame.metadata[POSITION_KEY])
        elif t.owns_conversation:
            # Before the base class queues it for playback; the reply's end counts from here.
            t.conversation.apply(frame, direction, self)
        await super().process_frame(frame, direction)

    async def write_audio_frame(self, frame: OutputAudioRawFrame) -> bool:
        t = self._transport
        rate = self.sample_rate
        audio = frame.audio
        if frame.sample_rate != rate:  # the base class resamples; guard against surprises
            logger.warning(f"{self}: got {frame.sample_rate} Hz audio, expected {rate} Hz")
        pos = max(self._cursor, t.timeline.now())
        gap = round((pos - self._cursor) * rate)
        if gap > 0:
            self._buffer += b"\x00" * (gap * 2)
        self._buffer += audio
        self._cursor = len(self._buffer) / 2 / rate
        chunk_secs = len(audio) / 2 / rate
        # Stay at most one chunk ahead of the caller's clock, as a device buffer would.
        delay = t.timeline.wall_at(self._cursor - chunk_secs) - t.timeline.clock()
        if delay > 0:
            await asyncio.sleep(delay)
        return True

    def _save(self) -> None:
        t = self._transport
        if self._saved or t.output_path is None:
            return
        self._saved = True
        rate = self.sample_rate
        total = max(len(self._buffer) // 2, int(t.timeline.now() * rate))
        samples = np.zeros(total, dtype=np.int16)
        written = np.frombuffer(bytes(self._buffer), dtype="<i2")
        samples[: len(written)] = written
        try:
            write_wav(t.output_path, Pcm(samples, rate))
        except OSError as e:  # raising here would stop the EndFrame and hang the session
            t.output_error = f"cannot write {t.output_path}: {e.strerror or e}"
            logger.error(f"{self}: {t.output_error}")
            return
        logger.info(f"bot audio written to {t.output_path} ({total / rate:.2f}s)")


class WavFileTransport(BaseTransport):
    """Pipecat transport whose caller is a WAV file; see the module docstring.

    The session ends through the ``on_finished`` event once the input has played, no answer
    is pending and the bot has been quiet for ``linger_secs`` (seconds of the caller's
    timeline); or ``max_wait_secs`` (wall clock) after the input played, whatever happens.
    """

    def __init__(
        self,
        input_path: str | Path,
        output_path: str | Path | None = None,
        *,
        speed: float = 1.0,
        linger_secs: float = 3.0,
        max_wait_secs: float = MAX_WAIT_SECS,
        output_chunk_secs: float = 0.04,
    ) -> None:
        super().__init__(name="WavFileTransport")
        self.input_path = Path(input_path)
        self.output_path = Path(output_path) if output_path is not None else None
        self.timeline = Timeline(speed)
        self.linger_secs = linger_secs
        self.max_wait_secs = max_wait_secs
        self.input_done = asyncio.Event()
        self.input_ended_at = 0.0
        #: Whether an answer is pending: the session's state once ``use_conversation`` gave it
        #: (the call then ends on the same facts as every other stage), else this
        #: transport's own, fed the frames it sees.
        self.conversation = ConversationState()
        self.owns_conversation = True
        #: What the call was still waiting for when ``max_wait_secs`` ended it, if it did.
        self.gave_up: str | None = None
        self.lag_secs = 0.0  # the most the pipeline fell behind the caller (timeline seconds)
        # What went wrong with the files, for the runner to raise once the session is over.
        self.input_error: str | None = None
        self.output_error: str | None = None
        self._finished = False
        params = TransportParams(
            audio_in_enabled=True,
            audio_out_enabled=True,
            audio_out_end_silence_secs=0,
            audio_out_10ms_chunks=max(1, round(output_chunk_secs / 0.01)),
        )
        self._input = WavInput(self, params)
        self._output = WavOutput(self, params)
        self.conversation.output = self._output
        register_event(self, "on_finished")

    def use_conversation(self, state: ConversationState) -> None:
        """Read the session's conversation state rather than keep one of its own."""
        self.conversation = state
        self.owns_conversation = False

    @property
    def vad_fired(self) -> bool:
        """Whether the VAD ever heard the caller start speaking."""
        return self.conversation.user_speech_seen

    def input(self) -> WavInput:
        return self._input

    def output(self) -> WavOutput:
        return self._output

    def finished(self) -> bool:
        """Whether the caller has nothing more to say and the bot nothing more to answer
        (called once the input has played)."""
        now = self.timeline.clock()
        pending = self.conversation.pending()
        if pending is None:
            quiet_since = max(self.input_ended_at, self.conversation.changed_at)
            if (now - quiet_since) * self.timeline.speed >= self.linger_secs:
                return True
        if now - self.input_ended_at < self.max_wait_secs:
            return False
        if pending is not None:
            self.gave_up = (
                f"the call was ended {self.max_wait_secs:g}s after the caller's input played, "
                f"still waiting for {pending}: the bot's last answer may be missing or cut "
                "(a hung or very slow LLM/TTS, or raise max_wait_secs)"
            )
            logger.warning(f"{self}: ending the call with {pending} still pending")
        return True

    async def finish(self) -> None:
        if not self._finished:
            self._finished = True
            await emit_event(self, "on_finished")


class WavFile(TransportProvider):
    """The caller is ``input`` (a WAV file); the bot's voice goes to ``output`` (a WAV)."""

    name: ClassVar[str] = "wav"

    input: Path
    output: Path | None = None
    speed: float = 1.0
    linger_secs: float = Field(default=3.0, ge=0)
    #: Wall-clock seconds after the input played to wait for an answer that is not coming.
    max_wait_secs: float = Field(default=MAX_WAIT_SECS, gt=0)
    #: The bot's audio is written in chunks this long (Pipecat's default 40 ms); a barge-in
    #: silences the bot up to one chunk later, so 0.02 stops it ~20 ms sooner.
    output_chunk_secs: float = Field(default=0.04, ge=0.01, le=0.2)

    @field_validator("speed")
    @classmethod
    def _check_speed(cls, value: float) -> float:
        if not 0 < value <= MAX_SPEED:
            raise ConfigError(
                f"WavFile(speed={value:g}): give a speed above 0 and at most {MAX_SPEED:g}; "
                "beyond that the pipeline falls behind the caller and the timings mean nothing"
            )
        return value

    def check(self, ctx: BuildContext) -> None:
        super().check(ctx)
        try:
            read_wav(self.input)
        except AudioFileError as e:
            raise ConfigError(f"WavFile input: {e}") from e

    def on_client_gone(self, transport, worker, callback):  # type: ignore[no-untyped-def]
        # Cancelled, not ended: the recorded caller has hung up. Nothing is left to play
        # (the call ends once the bot has been quiet for linger_secs, or given up on), and an
        # EndFrame would wait on any stage stuck in its vendor (an answer that never came, a
        # stalled STT socket closing). The output file is still written.
        async def finished(wav: WavFileTransport) -> None:
            await worker.cancel(reason=wav.gave_up or "the recorded caller's input has ended")

        transport.add_event_handler("on_finished", finished)

    def build(self, ctx: BuildContext) -> WavFileTransport:
        return WavFileTransport(
            self.input,
            self.output,
            speed=self.speed,
            linger_secs=self.linger_secs,
            max_wait_secs=self.max_wait_secs,
            output_chunk_secs=self.output_chunk_secs,
        )
