"""What every phone transport shares: one carrier media stream over a WebSocket, per call.

A carrier (Twilio, Telnyx, Plivo, Exotel, FreJun Teler, or any product speaking the generic
PCM protocol) answers a call, then opens a WebSocket to the bot and streams the caller's
audio over it as JSON or binary messages. ``voicebot serve`` accepts that socket at
``/phone/ws[/{carrier}]`` (``voicebot.server.phone``), reads the carrier's ``start`` message
into a ``PhoneCall`` (``voicebot.transports.phone.detect``) and gives both to a copy of the
bot's phone transport, as ``WebRTCPeer(connection=...)`` is given a browser's connection. The
session runs on Pipecat's ``FastAPIWebsocketTransport`` with the carrier's frame serializer
(Pipecat's where it has one) inside a ``GuardedSerializer``; the serializers resample between
the line's 8 kHz and the bot's rates.

The call ends when the caller hangs up (the carrier sends ``stop`` or closes the socket), when
the carrier has sent nothing for ``gone_after_secs``, or when the bot ends it (an ``EndFrame``:
the socket is closed, and carriers with REST credentials are also told to hang up).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from loguru import logger
from pydantic import Field, PrivateAttr

from voicebot.errors import ConfigError
from voicebot.providers.base import BuildContext, TransportProvider

if TYPE_CHECKING:
    from pipecat.pipeline.worker import PipelineWorker
    from pipecat.serializers.base_serializer import FrameSerializer
    from pipecat.transports.base_transport import BaseTransport

    from voicebot.transports.phone.guard import GuardedSerializer
    from voicebot.transports.phone.marks import MarkProtocol

#: Carriers a phone call may come from, as they appear in ``/phone/ws/{carrier}``.
CARRIERS: tuple[str, ...] = ("twilio", "telnyx", "plivo", "exotel", "teler", "pcm")


@dataclass(frozen=True)
class PhoneCall:
    """One call, as the carrier described it in its ``start`` message.

    ``call_id`` is the carrier's id for the call (Twilio ``CallSid``, Telnyx
    ``call_control_id``...), ``stream_id`` its media stream's; ``from_number`` and
    ``to_number`` are the caller's and the dialled number when the carrier gives them;
    ``encoding`` and ``sample_rate`` are what the carrier says it sends; ``params`` are the
    custom parameters it passed on (Twilio ``<Parameter>``, Exotel ``custom_parameters``).
    """

    carrier: str
    call_id: str | None = None
    stream_id: str | None = None
    from_number: str | None = None
    to_number: str | None = None
    encoding: str | None = None
    sample_rate: int | None = None
    params: dict[str, str] = field(default_factory=dict)


def phone_call(session: Any) -> PhoneCall | None:
    """The ``PhoneCall`` a session answers (its caller's number, the carrier's call id), or
    None when the session is not a phone call."""
    provider = getattr(session, "transport_provider", None)
    call = getattr(provider, "call", None)
    return call if isinstance(call, PhoneCall) else None


class PhoneTransport(TransportProvider):
    """Base of the phone transports: a carrier's media stream on one WebSocket.

    ``connection`` (the accepted WebSocket) and ``call`` are set per call by the server's
    phone endpoint; a bot that names a phone transport cannot start without them.
    ``gone_after_secs``: a carrier streams audio continuously (50 messages a second) for as
    long as the call lasts, so one that has sent nothing for this long is gone (a dropped
    network, a crashed bridge) and the call is ended; ``None`` never ends it for that.
    ``marks``: where the carrier echoes playback marks (Twilio, Telnyx; Plivo checkpoints),
    send one after every audio chunk, so that after a barge-in the context keeps only words
    the carrier confirmed as played (``voicebot.transports.phone.marks``);
    ``marks_hold_secs``: how long audio may go unconfirmed before it is taken as played.
    ``input_frame_secs``: the caller's audio is handed to the pipeline in frames this long.
    Carriers send 20 ms; every frame then crosses each stage (VAD, turn model, STT, the
    aggregator and every stage after it), so pairing them as 40 ms frames cut a phone call's
    worker CPU by ~20 % (docs/deploy.md, "CPU per call") for at most 20 ms more before the
    VAD hears the caller stop. ``0.02`` passes the carrier's frames on as they come.
    ``output_chunk_secs``: the bot's audio goes to the carrier in chunks this long. When the
    caller speaks over the bot, the bot pauses (``BargeIn``) and the carrier still plays the
    chunk it has, so the 20 ms default stops the bot up to 20 ms sooner than 40 ms would
    (barge-in p95 84 against 120 ms in ``python -m benchmarks.bench_backchannel``), for one
    more message (and mark) per 20 ms: no CPU per call a 12-call run could see (12 % of a
    core either way, docs/deploy.md, "Output chunks").
    """

    #: The carrier's key in ``/phone/ws/{carrier}`` and in ``PhoneCall.carrier``.
    carrier: ClassVar[str]
    extra: ClassVar[str | None] = None
    requires: ClassVar[tuple[str, ...]] = ("fastapi",)

    connection: Any = Field(default=None, exclude=True, repr=False)
    call: PhoneCall | None = Field(default=None, exclude=True, repr=False)
    gone_after_secs: float | None = Field(default=10.0, gt=0)
    marks: bool = True
    marks_hold_secs: float = Field(default=2.0, gt=0)
    input_frame_secs: float = Field(default=0.04, ge=0.01, le=0.2)
    output_chunk_secs: float = Field(default=0.02, ge=0.01, le=0.2)

    _guard: GuardedSerializer | None = PrivateAttr(default=None)

    # ---- what each carrier fills in --------------------------------------------------------

    def serializer(self, ctx: BuildContext, call: PhoneCall) -> FrameSerializer:
        """The carrier's Pipecat frame serializer for ``call``."""
        raise NotImplementedError

    def mark_protocol(self, call: PhoneCall) -> MarkProtocol | None:
        """How this carrier confirms playback, or None if it does not."""
        return None

    def check_credentials(self, ctx: BuildContext) -> None:
        """Raise a ``ConfigError`` if the REST credentials given are incomplete (none at all
        is fine: the bot answers, and hangs up by closing the stream)."""

    def keep_call(self, keep: bool = True) -> None:
        """While ``keep``, ending the session does not hang the call up over REST: it was
        transferred (``voicebot.transports.transfer``), and the carrier's call now bridges the
        caller to someone else."""
        if self._guard is not None:
            self._guard.keep_call = keep

    #: Whether binary WebSocket messages carry raw audio (else every message is JSON).
    binary_audio: ClassVar[bool] = False
    #: The rate the carrier plays (8 kHz), for the output transport to resample to: each
    #: chunk it writes is then exactly what goes on the line, the serializer has nothing to
    #: resample, and the transport's resampler is flushed at the end of each reply. (A
    #: serializer's own stream resampler holds back up to ~140 ms of 24 kHz → 8 kHz audio,
    #: and drops it after 0.2 s without more: the end of every reply, and what a playback
    #: mark confirms, would lag the audio sent.) None: the serializer resamples.
    line_rate: ClassVar[int | None] = None

    def output_rate(self, call: PhoneCall) -> int | None:
        """The rate the output transport writes for ``call`` (``line_rate``; a carrier whose
        rate is negotiated per call says so from its ``start``)."""
        return self.line_rate

    def input_rate(self, call: PhoneCall) -> int | None:
        """The rate of the caller's audio on the line for ``call`` (the output's, unless the
        carrier says otherwise), which ``LineRateSerializer`` upsamples; None: unknown."""
        return self.output_rate(call)

    # ---- TransportProvider -----------------------------------------------------------------

    def check(self, ctx: BuildContext) -> None:
        super().check(ctx)
        self.check_credentials(ctx)
        if self.connection is None or self.call is None:
            raise ConfigError(
                f"{type(self).__name__} answers phone calls that a carrier streams to the "
                "server: serve the bot with `voicebot serve FILE.py` and point the carrier at "
                f"POST /phone/{self.carrier} (docs/telephony.md)"
            )

    def build(self, ctx: BuildContext) -> BaseTransport:
        from pipecat.transports.websocket.fastapi import (
            FastAPIWebsocketParams,
            FastAPIWebsocketTransport,
        )

        from voicebot.processors.playback_marks import PlaybackMarks, attach_playback_marks
        from voicebot.transports.phone.guard import GuardedSerializer
        from voicebot.transports.phone.line_rate import LineRateSerializer
        from voicebot.transports.phone.marks import MarkingSerializer, websocket_sender

        if self.connection is None or self.call is None:
            self.check(ctx)  # raises, naming the fix
        assert self.call is not None
        serializer = self.serializer(ctx, self.call)
        if (line_rate := self.input_rate(self.call)) is not None:
            serializer = LineRateSerializer(  # ~60 ms sooner than soxr
                serializer, line_rate=line_rate, frame_secs=self.input_frame_secs
            )
        protocol = self.mark_protocol(self.call) if self.marks else None
        marks = None
        if protocol is not None:
            marks = PlaybackMarks(self.carrier, hold_secs=self.marks_hold_secs)
            send = websocket_sender(self.connection)
            serializer = MarkingSerializer(serializer, protocol=protocol, marks=marks, send=send)
        guard = GuardedSerializer(serializer, carrier=self.carrier, binary_audio=self.binary_audio)
        self._guard = guard
        params = FastAPIWebsocketParams(
            audio_in_enabled=True,
            audio_out_enabled=True,
            add_wav_header=False,
            serializer=guard,
            audio_out_sample_rate=self.output_rate(self.call),
            audio_out_10ms_chunks=max(1, round(self.output_chunk_secs / 0.01)),
            allowed_origins=[],  # carriers send no Origin; the supervisor admits calls
        )
        transport = FastAPIWebsocketTransport(websocket=self.connection, params=params)
        if marks is not None:  # the heard-text stage around this output reads them
            attach_playback_marks(transport.output(), marks)
        return transport

    def on_client_ready(
        self,
        transport: BaseTransport,
        worker: PipelineWorker,
        callback: Callable[[], Awaitable[None]],
    ) -> None:
        async def connected(_transport: Any, _websocket: Any) -> None:
            await callback()

        transport.add_event_handler("on_client_connected", connected)

    def on_client_gone(
        self,
        transport: BaseTransport,
        worker: PipelineWorker,
        callback: Callable[[], Awaitable[None]],
    ) -> None:
        # Cancelled, not ended: an EndFrame would wait for queued audio to be "played" to a
        # socket that is gone. There is no one left to hear it.
        async def hung_up(*_args: Any) -> None:
            if not worker.has_finished():
                logger.info(f"{self.carrier}: the caller hung up; ending the session")
                await worker.cancel(reason="the caller hung up")

        transport.add_event_handler("on_client_disconnected", hung_up)
        guard = self._guard
        if guard is not None:
            guard.on_hangup = hung_up
        watchdogs: list[asyncio.Task[None]] = []

        async def connected(_transport: Any, _websocket: Any) -> None:
            if guard is not None and self.gone_after_secs is not None and not watchdogs:
                watchdogs.append(
                    asyncio.create_task(
                        _watch_silence(guard, worker, self.gone_after_secs),
                        name=f"{self.carrier} silence watchdog",
                    )
                )

        async def finished(_worker: Any, _frame: Any) -> None:
            for watchdog in watchdogs:
                watchdog.cancel()
            if guard is not None and (summary := guard.summary()) is not None:
                logger.warning(summary)

        transport.add_event_handler("on_client_connected", connected)
        worker.add_event_handler("on_pipeline_finished", finished)


async def _watch_silence(guard: GuardedSerializer, worker: Any, gone_after: float) -> None:
    """Cancel the session once the carrier has sent nothing for ``gone_after`` seconds."""
    try:
        while not worker.has_finished():
            await asyncio.sleep(min(1.0, gone_after / 2))
            if time.monotonic() - guard.last_message_at >= gone_after:
                logger.info(
                    f"{guard.carrier}: nothing from the carrier in {gone_after:g}s; hanging up"
                )
                await worker.cancel(reason="the carrier stopped sending")
                return
    except Exception as e:  # a watchdog must never take the session down itself
        logger.debug(f"{guard.carrier}: silence watchdog stopped: {e}")


def secret(value: Any) -> str | None:
    """The text of a ``SecretStr`` (or plain string) argument, or None if unset/empty."""
    if value is None:
        return None
    text = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
    return text or None
