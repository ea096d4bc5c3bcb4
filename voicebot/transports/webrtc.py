"""One browser on the other end of a WebRTC call, through Pipecat's SmallWebRTC (aiortc).

A ``WebRTCPeer`` wraps one ``SmallWebRTCConnection``: the peer connection made when a
browser posted its SDP offer (``voicebot serve`` does this, see
``voicebot.server.playground``). It builds a ``SmallWebRTCTransport`` with the microphone
in and the bot's voice out. The greeting waits until the browser's media is connected, and
the session ends when the browser hangs up, closes the tab or stops answering.

Everything runs on this machine: aiortc speaks ICE, DTLS and Opus in-process, and with no
ICE servers only host candidates are used, which is all a browser on the same machine or
LAN needs.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from loguru import logger
from pydantic import Field

from voicebot.errors import ConfigError
from voicebot.providers.base import BuildContext, TransportProvider

#: Set to 1 to offer 127.0.0.1 as an ICE candidate (see ``allow_loopback_ice``).
LOOPBACK_ICE_ENV = "VOICEBOT_LOOPBACK_ICE"

_loopback_patched = False


def allow_loopback_ice() -> None:
    """Let aiortc offer 127.0.0.1 as a host candidate, for a browser on this machine.

    aioice leaves loopback out of its host candidates, so on a machine with no other
    interface (a CI container, a laptop offline) a local browser and the bot have no
    address in common and ICE fails. A browser offers loopback candidates only when asked
    (Chromium's ``--allow-loopback-in-peer-connection``); otherwise the extra candidate is
    simply never paired. Process-wide and idempotent.
    """
    global _loopback_patched
    if _loopback_patched:
        return
    import aioice.ice

    original = aioice.ice.get_host_addresses

    def with_loopback(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        addresses = original(use_ipv4, use_ipv6)
        if use_ipv4 and "127.0.0.1" not in addresses:
            addresses.append("127.0.0.1")
        return addresses

    aioice.ice.get_host_addresses = with_loopback
    _loopback_patched = True
    logger.debug("aioice: 127.0.0.1 added to the host ICE candidates")


def loopback_ice_from_env(default: bool = False) -> bool:
    """``VOICEBOT_LOOPBACK_ICE`` as a bool (1/true/yes, 0/false/no), else ``default``."""
    value = os.environ.get(LOOPBACK_ICE_ENV, "").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    return default


async def _audio_packets(connection: Any) -> int | None:
    """RTP packets received so far on the browser's microphone track (None if unknown)."""
    transceivers = connection.pc.getTransceivers()
    if not transceivers:
        return None
    report = await transceivers[0].receiver.getStats()
    counts = [s.packetsReceived for s in report.values() if s.type == "inbound-rtp"]
    return sum(counts) if counts else None


async def _watch_audio(connection: Any, worker: Any, gone_after: float) -> None:
    """Cancel the session once the browser has sent no audio for ``gone_after`` seconds.

    A browser sends its microphone continuously (silence included) while it is there; a
    killed tab sends nothing and says nothing, and ICE notices only after ~30 s.
    """
    last, changed = None, time.monotonic()
    try:
        while connection.pc.connectionState not in ("closed", "failed"):
            if worker.has_finished():  # the session is over: nothing left to watch
                return
            await asyncio.sleep(1.0)
            count = await _audio_packets(connection)
            now = time.monotonic()
            if count != last:
                last, changed = count, now
            elif now - changed >= gone_after:
                logger.info(f"WebRTCPeer: no audio from the browser in {gone_after:g}s; hanging up")
                await worker.cancel(reason="the browser stopped sending audio")
                return
    except Exception as e:  # a watchdog must never take the session down itself
        logger.debug(f"WebRTCPeer: audio watchdog stopped: {e}")


async def _reap_unconnected(arrived: asyncio.Event, worker: Any, deadline: float) -> None:
    """Cancel the session unless the browser's media connects within ``deadline`` seconds."""
    try:
        await asyncio.wait_for(arrived.wait(), deadline)
    except TimeoutError:
        if not worker.has_finished():
            logger.info(f"WebRTCPeer: the browser did not connect within {deadline:g}s")
            await worker.cancel(reason=f"the browser did not connect within {deadline:g}s")


class WebRTCPeer(TransportProvider):
    """The caller is a browser connected over WebRTC (Pipecat's ``SmallWebRTCTransport``).

    ``connection`` is the ``SmallWebRTCConnection`` made from the browser's offer, one per
    browser; ``voicebot serve`` creates it and a session for it. With no connection (e.g.
    ``Bot(transport="webrtc")``) the bot cannot start: serve it instead.
    """

    name: ClassVar[str] = "webrtc"
    extra: ClassVar[str | None] = "webrtc"
    requires: ClassVar[tuple[str, ...]] = ("aiortc", "fastapi")

    connection: Any = Field(default=None, exclude=True, repr=False)
    #: Seconds with no audio packet from the browser after which it counts as gone (a
    #: crashed tab, a dropped network). ``None`` leaves that to ICE consent checks (~30 s).
    gone_after_secs: float | None = Field(default=5.0, gt=0)
    #: Seconds from the session's start for the browser's media to connect before the
    #: session is cancelled (an offer whose peer never connects would hold a session, and a
    #: slot of ``max_sessions``, for Pipecat's 60 s connecting timeout, or the bot's 300 s
    #: idle timeout when ICE never starts). ``None``: no deadline of voicebot's own.
    connect_timeout_secs: float | None = Field(default=20.0, gt=0)

    def check(self, ctx: BuildContext) -> None:
        super().check(ctx)
        if self.connection is None:
            raise ConfigError(
                "WebRTCPeer needs a browser's connection, made per browser when it connects: "
                "serve the bot with `voicebot serve FILE.py` and open the page it prints"
            )

    def on_client_ready(
        self, transport: Any, worker: Any, callback: Callable[[], Awaitable[None]]
    ) -> None:
        async def connected(_transport: Any, _connection: Any) -> None:
            await callback()

        transport.add_event_handler("on_client_connected", connected)

    def on_client_gone(
        self, transport: Any, worker: Any, callback: Callable[[], Awaitable[None]]
    ) -> None:
        # Cancelled, not ended: an EndFrame would let the output finish what is queued, but
        # SmallWebRTC's output waits for the closed connection to take audio it never will,
        # so the session would hang. There is no one left to hear it anyway.
        async def disconnected(_transport: Any, _connection: Any) -> None:
            logger.debug("WebRTCPeer: the browser left; ending the session")
            await worker.cancel(reason="the browser left")

        transport.add_event_handler("on_client_disconnected", disconnected)
        watchdogs: list[asyncio.Task[None]] = []  # this session's audio and connect watchdogs
        arrived = asyncio.Event()  # the browser's media connected

        async def connected(_transport: Any, connection: Any) -> None:
            first = not arrived.is_set()  # else a renegotiation
            arrived.set()
            if not first or self.gone_after_secs is None or worker.has_finished():
                return
            name = f"WebRTCPeer audio watchdog {getattr(connection, 'pc_id', '')}"
            watchdog = _watch_audio(connection, worker, self.gone_after_secs)
            watchdogs.append(asyncio.create_task(watchdog, name=name))

        async def started(_worker: Any, _frame: Any) -> None:
            if self.connect_timeout_secs is not None and not arrived.is_set():
                deadline = _reap_unconnected(arrived, worker, self.connect_timeout_secs)
                watchdogs.append(asyncio.create_task(deadline, name="WebRTCPeer connect"))

        async def finished(_worker: Any, _frame: Any) -> None:
            """The session is over (ended, cancelled or failed): so are its watchdogs."""
            for watchdog in watchdogs:
                watchdog.cancel()

        transport.add_event_handler("on_client_connected", connected)
        worker.add_event_handler("on_pipeline_started", started)
        worker.add_event_handler("on_pipeline_finished", finished)

    def build(self, ctx: BuildContext) -> Any:
        from pipecat.transports.base_transport import TransportParams
        from pipecat.transports.smallwebrtc.transport import SmallWebRTCTransport

        return SmallWebRTCTransport(
            webrtc_connection=self.connection,
            params=TransportParams(audio_in_enabled=True, audio_out_enabled=True),
        )
