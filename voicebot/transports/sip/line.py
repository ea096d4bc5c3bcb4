"""One SIP line: answers one call at a time and moves its G.711 audio and DTMF.

Everything SIP and RTP is done by two maintained PyPI libraries, not here: ``aiosipua``
(RFC 3261 UAS with transactions, 2xx retransmission until ACK, CANCEL, re-INVITE,
REGISTER with digest auth; SDP offer/answer per RFC 3264) and ``aiortp`` (RTP/RTCP,
G.711 PCMU/PCMA, a jitter buffer, RFC 4733 telephone-events). This module only glues them
to the callbacks a Pipecat transport needs: ``on_connected``, ``on_audio`` (8 kHz 16-bit
PCM frames), ``on_dtmf`` (a digit) and ``on_hangup`` (a reason).

Why the choice of these libraries, and what else was compared: docs/sip.md.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from loguru import logger

from voicebot.redaction import mask_number

#: The only codecs answered: G.711 µ-law and A-law (RTP static payload types 0 and 8).
CODEC_PAYLOAD_TYPES = {"PCMU": 0, "PCMA": 8}
#: G.711's sample rate, and the samples in one 20 ms RTP packet.
LINE_RATE = 8000
FRAME_SAMPLES = 160
#: Seconds to wait for the registrar's answer before the line gives up starting.
REGISTER_TIMEOUT_SECS = 10.0
#: Seconds the caller's phone has to answer a REFER (its 202, or a first NOTIFY).
REFER_ACCEPT_SECS = 10.0


class RegistrationError(Exception):
    """The registrar refused the line, or never answered: no call can reach the bot."""


@dataclass
class CallInfo:
    """Who called, for the session (``user_id``, logs) and the caller-facing transport."""

    call_id: str
    caller: str
    callee: str
    codec: str
    x_headers: dict[str, str] = field(default_factory=dict)


@dataclass
class LineConfig:
    """What the provider hands the line; see ``voicebot.transports.sip.SIP``."""

    host: str
    port: int
    media_host: str | None = None
    rtp_port_range: tuple[int, int] = (16384, 32766)
    codecs: tuple[str, ...] = ("PCMU", "PCMA")
    registrar: tuple[str, int] | None = None
    aor: str | None = None
    username: str | None = None
    password: str | None = None
    register_expires: int = 300


def _udp_transport(host: str, port: int) -> Any:
    """aiosipua's UDP transport, minus its ``connection_made`` assert: on CPython 3.11 the
    selector loop's datagram transport does not subclass ``asyncio.DatagramTransport``, so
    aiosipua 0.7.1 logs an AssertionError traceback per socket (harmless: ``start`` stores
    the transport itself). Same code otherwise; drop once aiosipua fixes it."""
    from aiosipua.transport import UdpSipTransport

    class Protocol(asyncio.DatagramProtocol):
        def __init__(self, owner: UdpSipTransport) -> None:
            self.owner = owner

        def datagram_received(self, data: bytes, addr: tuple[str | Any, ...]) -> None:
            self.owner._dispatch(data, (str(addr[0]), int(addr[1])))

        def error_received(self, exc: Exception) -> None:
            logger.warning(f"SIP: UDP error: {exc}")

    class Transport(UdpSipTransport):
        async def start(self) -> None:
            loop = asyncio.get_running_loop()
            udp, _ = await loop.create_datagram_endpoint(
                lambda: Protocol(self), local_addr=self.local_addr
            )
            self._udp_transport = udp

    return Transport(local_addr=(host, port))


def _uac(transport: Any, on_refer_answer: Callable[[int, str], None]) -> Any:
    """aiosipua's UAC, also passing on the answers to our REFERs: aiosipua 0.7.1 matches
    responses only to the calls it placed, so a 202 (or a 405) to a REFER sent in an incoming
    call's dialog would be dropped unseen."""
    from aiosipua import SipUAC

    class UAC(SipUAC):
        def handle_response(self, response: Any, addr: tuple[str, int]) -> None:
            cseq = response.cseq
            if cseq is not None and cseq.method.upper() == "REFER":
                on_refer_answer(int(response.status_code), str(response.reason_phrase))
                return
            super().handle_response(response, addr)

    return UAC(transport)


def _media_ip(config: LineConfig, peer: tuple[str, int]) -> str:
    """The address written in our SDP: the configured one, else the one the OS would use to
    reach the caller (a wildcard bind address means nothing to the peer)."""
    if config.media_host:
        return config.media_host
    if config.host not in ("0.0.0.0", "", "::"):
        return config.host
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(peer)  # UDP: no packet is sent, the routing table answers
        return str(probe.getsockname()[0])


class SipLine:
    """A SIP user agent server answering one call at a time (a second one gets 486 Busy)."""

    def __init__(self, config: LineConfig) -> None:
        self.config = config
        self.call_info: CallInfo | None = None
        self.on_connected: Callable[[CallInfo], None] | None = None
        self.on_audio: Callable[[bytes], None] | None = None
        self.on_dtmf: Callable[[str], None] | None = None
        self.on_hangup: Callable[[str], None] | None = None
        self._uas: Any = None
        self._registration: Any = None
        self._call: Any = None  # aiosipua IncomingCall of the call in progress
        self._media: Any = None  # aiosipua CallSession (an aiortp RTPSession inside)
        self._ports: Any = None
        self._rtp_port: int | None = None
        self._answering: asyncio.Task[None] | None = None
        self._closed = False
        self._uac: Any = None
        #: What the caller's phone says about our REFER: (kind, status, reason).
        self._refer_news: asyncio.Queue[tuple[str, int, str]] | None = None

    @property
    def connected(self) -> bool:
        return self._media is not None and not self._closed

    async def start(self) -> None:
        """Listen for INVITEs (and register, when a registrar is configured)."""
        from aiortp import PortAllocator
        from aiosipua import SipUAS

        self._ports = PortAllocator(self.config.rtp_port_range)
        transport = _udp_transport(self.config.host, self.config.port)
        uac = self._uac = _uac(
            transport, lambda status, why: self._refer_news_put("answer", status, why)
        )
        uas = SipUAS(transport, uac=uac, user_agent="voicebot")
        uas.on_transfer_progress = self._transfer_progress
        uas.on_invite = self._on_invite
        uas.on_reinvite = self._on_reinvite
        uas.on_bye = lambda _call, _request: self._ended("the caller hung up (BYE)")
        uas.on_ack_timeout = lambda _call: self._ended("the caller never sent ACK")
        uas.on_session_expired = lambda _call: self._ended("the SIP session expired")
        await uas.start()
        self._uas = uas
        logger.info(f"SIP: listening on udp:{self.config.host}:{self.config.port}")
        if self.config.registrar is not None:
            await self._register(uac)

    async def _register(self, uac: Any) -> None:
        from aiosipua import Registration, SipDigestAuth

        config = self.config
        assert config.registrar is not None and config.aor is not None
        auth = None
        if config.username and config.password:
            auth = SipDigestAuth(config.username, config.password)
        outcome: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()

        def done(result: str | None) -> None:
            if not outcome.done():
                outcome.set_result(result)

        reg = Registration(
            uac, config.aor, config.registrar, expires=config.register_expires, auth=auth
        )
        reg.on_registered = lambda _reg: done(None)
        reg.on_failed = lambda _reg, status, reason: done(f"{status} {reason}")
        reg.register()
        self._registration = reg
        try:
            failure = await asyncio.wait_for(outcome, REGISTER_TIMEOUT_SECS)
        except TimeoutError:
            failure = f"no answer in {REGISTER_TIMEOUT_SECS:g}s (check the address and the network)"
        host, port = config.registrar
        if failure is not None:
            if failure[:3] in ("401", "403", "407"):
                failure += " (check the username, and the password or SIP_PASSWORD)"
            raise RegistrationError(f"registering {config.aor} at {host}:{port} failed: {failure}")
        logger.info(f"SIP: registered {config.aor} at {host}:{port}")

    # ---- incoming calls (aiosipua callbacks, called on the event loop) ----------------------

    def _on_invite(self, call: Any) -> None:
        if self._closed or self._call is not None:
            logger.info(f"SIP: {mask_number(call.caller)} called while the line is busy: 486")
            call.reject(486, "Busy Here")
            return
        if call.sdp_offer is None:  # an offer in the ACK (late offer) is not supported
            logger.warning(f"SIP: INVITE from {mask_number(call.caller)} without an SDP offer: 488")
            call.reject(488, "Not Acceptable Here")
            return
        self._call = call
        self._answering = asyncio.get_running_loop().create_task(self._answer(call))

    async def _answer(self, call: Any) -> None:
        from aiosipua import SdpNegotiationError
        from aiosipua.rtp_bridge import CallSession

        offer = call.sdp_offer
        offered_dtmf = [
            c.payload_type
            for m in offer.media
            if m.media == "audio"
            for c in m.codecs
            if (c.encoding_name or "").lower() == "telephone-event"
        ]
        assert self._ports is not None
        rtp_port, _rtcp = await self._ports.allocate()
        self._rtp_port = rtp_port
        media_ip = _media_ip(self.config, call.source_addr)
        try:
            media = CallSession(
                local_ip=self.config.host if self.config.host not in ("", "::") else "0.0.0.0",
                rtp_port=rtp_port,
                offer=offer,
                advertised_ip=media_ip,
                supported_codecs=[CODEC_PAYLOAD_TYPES[c] for c in self.config.codecs],
                # Answer telephone-event on the offer's payload type: the peer keeps
                # sending on the number it chose, whatever an answer says.
                dtmf_payload_type=offered_dtmf[0] if offered_dtmf else 101,
            )
        except (SdpNegotiationError, ValueError) as e:
            logger.warning(f"SIP: cannot answer {mask_number(call.caller)}: {e}: 488")
            call.reject(488, "Not Acceptable Here")
            self._call = None
            self._release()
            return
        codec = next(n for n, pt in CODEC_PAYLOAD_TYPES.items() if pt == media.chosen_payload_type)
        await media.start()
        media.on_audio = self._audio_in
        media.on_dtmf = self._dtmf_in
        call.accept(media.sdp_answer)
        self._media = media
        self.call_info = CallInfo(
            call_id=call.call_id,
            caller=call.caller,
            callee=call.callee,
            codec=codec,
            x_headers=dict(call.x_headers),
        )
        logger.info(f"SIP: answered {mask_number(call.caller)} ({codec}, RTP port {rtp_port})")
        if self.on_connected is not None:
            self.on_connected(self.call_info)

    def _on_reinvite(self, call: Any) -> None:
        """A re-INVITE (hold, a new media address, a session refresh): answer it with the
        SDP we already gave, following the peer's RTP address if it moved."""
        if self._media is None or call is not self._call:
            call.reject(491, "Request Pending")
            return
        offer = call.sdp_offer
        address = offer.rtp_address if offer is not None else None
        if address is not None and address != self._media.remote_addr:
            self._media.update_remote(address)
        call.accept(self._media.sdp_answer)

    def _audio_in(self, pcm: bytes, _timestamp: int) -> None:
        if self.on_audio is not None:
            self.on_audio(pcm)

    def _dtmf_in(self, digit: str, _duration: int) -> None:
        logger.debug(f"SIP: DTMF {digit!r}")
        if self.on_dtmf is not None:
            self.on_dtmf(digit)

    def _ended(self, reason: str) -> None:
        if self._call is None:
            return
        logger.info(f"SIP: call ended: {reason}")
        self._call = None
        self._closed = True
        self._refer_news_put("ended", 0, reason)
        asyncio.get_running_loop().create_task(self._close_media())
        if self.on_hangup is not None:
            self.on_hangup(reason)

    # ---- transfer (REFER, RFC 3515) ---------------------------------------------------------

    async def refer(self, target: str, *, timeout_secs: float = 60.0) -> tuple[bool, str]:
        """Ask the caller's phone to call ``target`` instead, and wait for what it reports:
        ``(True, "200 OK")`` once the target answered (the NOTIFY's sipfrag) or the phone
        hung up on us after accepting; ``(False, why)`` if it refused the REFER, the target
        failed, or nothing came in time. The call stays up either way (the caller ends it)."""
        call, uac = self._call, self._uac
        if call is None or uac is None or self._closed:
            return False, "no call is up"
        loop = asyncio.get_running_loop()
        news = self._refer_news = asyncio.Queue()
        try:
            uac.send_refer(call.dialog, target, call.source_addr)
        except ValueError as e:  # the dialog is not confirmed (yet, or any more)
            return False, str(e)
        logger.info(f"SIP: REFER to {target.split('?')[0]} sent")
        deadline = loop.time() + timeout_secs
        accept_by = min(deadline, loop.time() + REFER_ACCEPT_SECS)
        accepted = False
        try:
            while True:
                try:
                    left = (deadline if accepted else accept_by) - loop.time()
                    kind, status, why = await asyncio.wait_for(news.get(), max(0.0, left))
                except TimeoutError:
                    if accepted:
                        return False, f"the transfer target did not answer in {timeout_secs:g}s"
                    return False, "the caller's phone did not answer the REFER in time"
                if kind == "ended":
                    if accepted:
                        return True, f"the caller's phone took the transfer ({why})"
                    return False, f"the call ended before the transfer: {why}"
                if status < 200:
                    accepted = accepted or kind == "notify"
                elif kind == "answer" and status < 300:
                    accepted = True
                elif kind == "answer":
                    return False, f"the caller's phone refused the transfer: {status} {why}"
                elif status < 300:
                    return True, f"{status} {why}".strip()
                else:
                    return False, f"the transfer target answered {status} {why}".strip()
        finally:
            self._refer_news = None

    def _refer_news_put(self, kind: str, status: int, why: str) -> None:
        if self._refer_news is not None:
            self._refer_news.put_nowait((kind, status, why))

    def _transfer_progress(self, call_id: str, status: int, why: str) -> None:
        """A NOTIFY about our REFER (aiosipua answered it with 200 OK)."""
        logger.info(f"SIP: transfer progress: {status} {why}")
        if self._call is not None and call_id == self._call.call_id:
            self._refer_news_put("notify", status, why)

    # ---- outgoing -----------------------------------------------------------------------------

    def send_frame(self, pcm: bytes) -> None:
        """Send one 20 ms frame (160 samples of 8 kHz 16-bit PCM) as one RTP packet."""
        media = self._media
        if media is not None and not self._closed and media.rtp_session is not None:
            media.rtp_session.send_audio_pcm_auto(pcm)

    async def close(self) -> None:
        """Hang up (BYE) if a call is up, unregister, and free the ports. Idempotent."""
        call, self._call = self._call, None
        self._closed = True
        if self._answering is not None and not self._answering.done():
            self._answering.cancel()
        if call is not None and self._media is not None:
            call.hangup()
            logger.info("SIP: the bot hung up (BYE sent)")
        await self._close_media()
        if self._registration is not None:
            self._registration.unregister()
            self._registration = None
        if self._uas is not None:
            uas, self._uas = self._uas, None
            await uas.stop()

    async def _close_media(self) -> None:
        media, self._media = self._media, None
        if media is not None:
            await media.close()
        self._release()

    def _release(self) -> None:
        if self._rtp_port is not None and self._ports is not None:
            port, self._rtp_port = self._rtp_port, None
            asyncio.get_running_loop().create_task(self._ports.release(port))
