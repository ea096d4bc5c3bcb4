"""A caller that phones a ``voicebot serve`` URL over WebRTC and times the bot from its side.

    report = await place_call("http://127.0.0.1:7860/", "examples/audio/two_turns.wav")
    print([t.voice_to_voice_secs for t in report.turns], report.lost)

The caller is an aiortc peer, as a browser tab would be: it posts its offer to
``/api/offer`` (a bearer token if given), plays the WAV as its microphone in real time
(20 ms frames, paced; silence after the file, because a peer that sends nothing is taken
for a dead one), and records when each frame of the bot's audio arrives. Where the caller
stops speaking is read from the file itself (``voicebot.audio.segments``), so **caller-side
voice-to-voice** is the time from the end of each utterance, as sent, to the first loud bot
audio that arrives after it: what a person on the line would measure, including the
server's transport and queueing, and trusting nothing the bot reports about itself.

Every wait is bounded; ``hang_up`` asks the server to end the call, then closes the peer.
aiortc is imported lazily (an extra: ``voicebot[webrtc]``).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np

from voicebot.audio.segments import Segment, speech_segments
from voicebot.audio.wav import Pcm, read_wav

FRAME_SECS = 0.02
#: A bot frame is "loud" at this RMS (of full scale): the threshold the segments use.
LOUD_RMS = 0.02
#: Loud frames closer than this belong to one stretch of bot speech (an onset needs a gap).
ONSET_GAP_SECS = 0.2


@dataclass
class CallerTurn:
    """One utterance of the caller and what it heard back."""

    index: int
    speech_end_secs: float  # in the WAV
    reply_after_secs: float | None = None  # caller-side voice-to-voice, if answered in time
    late: bool = False  # the bot's reply only began after the caller spoke again

    @property
    def answered(self) -> bool:
        return self.reply_after_secs is not None


@dataclass
class CallReport:
    """What one call did, from the caller's side (and the server's view of it at the end).
    ``turns`` and ``send_late_max_secs`` are filled in by ``WebRTCCaller.hang_up``."""

    status: int  # the offer's HTTP status (200, or 503/429/401...)
    detail: str = ""
    pc_id: str | None = None
    connect_secs: float | None = None  # offer posted -> media connected
    turns: list[CallerTurn] = field(default_factory=list)
    lost: bool = False
    lost_reason: str = ""
    bot_frames: int = 0
    send_late_max_secs: float = 0.0  # the microphone's worst lag while playing the file
    server_turns: list[dict[str, Any]] = field(default_factory=list)

    @property
    def refused(self) -> bool:
        return self.status != 200

    @property
    def answered(self) -> int:
        return sum(t.answered for t in self.turns)

    @property
    def voice_to_voice(self) -> list[float]:
        return [t.reply_after_secs for t in self.turns if t.reply_after_secs is not None]


def make_wav_track(pcm: Pcm) -> Any:
    """A microphone track playing ``pcm`` in real time, then silence; it records when each
    20 ms frame was handed to aiortc (``sent_at``) and sets ``played`` after the file."""
    import fractions

    from aiortc import MediaStreamTrack
    from av import AudioFrame

    rate = pcm.sample_rate
    samples = int(rate * FRAME_SECS)

    class WavTrack(MediaStreamTrack):
        kind = "audio"

        def __init__(self) -> None:
            super().__init__()
            self.sent_at: list[float] = []
            self.played = asyncio.Event()
            self.frames_in_file = math.ceil(len(pcm.samples) / samples)
            self.start: float | None = None

        async def recv(self) -> AudioFrame:
            k = len(self.sent_at)
            if self.start is None:
                self.start = time.monotonic()
            await asyncio.sleep(max(0.0, self.start + k * FRAME_SECS - time.monotonic()))
            chunk = np.zeros(samples, dtype=np.int16)
            part = pcm.samples[k * samples : (k + 1) * samples]
            chunk[: len(part)] = part
            frame = AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate = rate
            frame.pts = k * samples
            frame.time_base = fractions.Fraction(1, rate)
            self.sent_at.append(time.monotonic())
            if k + 1 >= self.frames_in_file:
                self.played.set()
            return frame

    return WavTrack()


class WebRTCCaller:
    """One call to a ``voicebot serve`` URL: ``call``, the waits, ``hang_up``, ``report``.

    ``local_address`` binds the HTTP requests to that source address (e.g. ``127.0.0.7``):
    the server rate-limits new calls per client address, and distinct callers are distinct
    clients. ``loud_rms`` is the bot-audio level that counts as speech.
    """

    def __init__(
        self,
        url: str,
        wav: str | Path,
        *,
        token: str | None = None,
        local_address: str | None = None,
        loud_rms: float = LOUD_RMS,
        http_timeout_secs: float = 60.0,
    ) -> None:
        self.url = url if url.endswith("/") else url + "/"
        self.pcm = read_wav(wav)
        self.utterances: list[Segment] = speech_segments(self.pcm, threshold=LOUD_RMS)
        if not self.utterances:
            raise ValueError(f"{wav}: no speech found in it (nothing to time)")
        self.token = token
        self.loud_level = loud_rms * 32768.0
        self.report = CallReport(status=0, turns=[])
        self.loud_at: list[float] = []  # arrival times of loud bot frames
        self.last_frame_at: float | None = None
        self._heard = asyncio.Event()
        self._http = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(local_address=local_address),
            timeout=http_timeout_secs,
            headers={"Authorization": f"Bearer {token}"} if token else {},
        )
        self._pc: Any = None
        self._track: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._posted_at = 0.0

    # ---- the call ---------------------------------------------------------------------------

    async def call(self) -> int:
        """Post the offer; on a 200, connect. Returns the HTTP status (refusals are not
        errors: ``report.detail`` says why)."""
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

        from voicebot.transports.webrtc import allow_loopback_ice

        allow_loopback_ice()
        # No STUN server: aiortc would otherwise ask Google's for every call.
        self._pc = pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self._track = make_wav_track(self.pcm)
        pc.addTrack(self._track)
        pc.on("track", self._on_track)
        await pc.setLocalDescription(await pc.createOffer())
        self._posted_at = time.monotonic()
        try:
            answer = await self._http.post(
                f"{self.url}api/offer", json={"sdp": pc.localDescription.sdp, "type": "offer"}
            )
        except httpx.HTTPError as e:
            self.report.status, self.report.detail = 599, f"offer failed: {type(e).__name__}"
            return self.report.status
        self.report.status = answer.status_code
        if answer.status_code != 200:
            self.report.detail = answer.text[:200]
            return answer.status_code
        body = answer.json()
        self.report.pc_id = body["pc_id"]
        await pc.setRemoteDescription(RTCSessionDescription(body["sdp"], body["type"]))
        return 200

    def _on_track(self, track: Any) -> None:
        if self._reader is None:
            self._reader = asyncio.create_task(self._read(track))

    async def _read(self, track: Any) -> None:
        with contextlib.suppress(Exception):  # the track ends with the call
            while True:
                frame = await track.recv()
                now = time.monotonic()
                self.last_frame_at = now
                self.report.bot_frames += 1
                audio = frame.to_ndarray().astype(np.float32)
                if float(np.sqrt(np.mean(audio * audio))) >= self.loud_level:
                    self.loud_at.append(now)
                    self._heard.set()

    @property
    def session_path(self) -> str:
        """``api/sessions/ID``, quoted (Pipecat's ids hold a ``#``)."""
        assert self.report.pc_id is not None
        return f"api/sessions/{quote(self.report.pc_id, safe='')}"

    # ---- waits (all bounded) ----------------------------------------------------------------

    async def wait_connected(self, timeout_secs: float = 60.0) -> bool:
        """Until the media path is up (the microphone has started), or False."""
        deadline = time.monotonic() + timeout_secs
        while self._pc is not None and time.monotonic() < deadline:
            if self._pc.connectionState in ("failed", "closed"):
                break
            if self._pc.connectionState == "connected" and self._track.sent_at:
                if self.report.connect_secs is None:
                    self.report.connect_secs = time.monotonic() - self._posted_at
                return True
            await asyncio.sleep(0.02)
        self._lose("never connected")
        return False

    async def wait_heard(self, utterance: int, timeout_secs: float = 60.0) -> bool:
        """Until bot speech began after the end of ``utterance`` (0-based), or False."""
        deadline = time.monotonic() + timeout_secs
        while time.monotonic() < deadline:
            if self._reply_onset(utterance) is not None:
                return True
            self._heard.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._heard.wait(), min(0.5, deadline - time.monotonic()))
        return False

    async def wait_done(
        self, *, linger_secs: float = 1.5, max_wait_secs: float = 20.0, stall_secs: float = 5.0
    ) -> None:
        """Until the file has played, the last utterance was answered and the bot has been
        quiet for ``linger_secs``; at most ``max_wait_secs`` after the file. A call whose
        bot audio stops arriving for ``stall_secs`` (its server process gone) is lost."""
        assert self._track is not None
        end_by = time.monotonic() + self.pcm.duration_secs + max_wait_secs + 5.0
        last = len(self.utterances) - 1
        while time.monotonic() < end_by:
            now = time.monotonic()
            if self._pc.connectionState in ("failed", "closed"):
                self._lose(f"connection {self._pc.connectionState}")
                return
            if self.last_frame_at is not None and now - self.last_frame_at > stall_secs:
                self._lose(f"no bot audio for {now - self.last_frame_at:.1f} s")
                return
            if self._track.played.is_set():
                end_by = min(end_by, self._track.sent_at[-1] + max_wait_secs)
                quiet = not self.loud_at or now - self.loud_at[-1] >= linger_secs
                if self._reply_onset(last) is not None and quiet:
                    return
            await asyncio.sleep(0.1)

    # ---- ending -----------------------------------------------------------------------------

    async def server_view(self) -> int:
        """Read the server's view of this call (``report.server_turns``); its HTTP status.
        A 404 while the caller still holds the line means the server lost the call."""
        if self.report.pc_id is None:
            return 0
        try:
            answer = await self._http.get(f"{self.url}{self.session_path}")
        except httpx.HTTPError:
            return 599
        if answer.status_code == 200:
            view = answer.json()
            self.report.server_turns = list(view.get("turns", []))
            if not view.get("running", True):
                self._lose("the server ended the call")
        elif answer.status_code == 404:
            self._lose("the server no longer knows the call")
        return answer.status_code

    async def hang_up(self, timeout_secs: float = 15.0) -> CallReport:
        """Ask the server to end the call, close the peer; returns the finished report."""
        with contextlib.suppress(httpx.HTTPError):
            if self.report.pc_id is not None and not self.report.lost:
                await self._http.delete(f"{self.url}{self.session_path}", timeout=timeout_secs)
        if self._pc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._pc.close(), timeout_secs)
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self._http.aclose()
        self.report.turns = self.turns()
        track = self._track
        if track is not None and track.start is not None:
            in_file = track.sent_at[: track.frames_in_file]  # the silence after is not timed
            self.report.send_late_max_secs = max(
                (at - (track.start + k * FRAME_SECS) for k, at in enumerate(in_file)),
                default=0.0,
            )
        return self.report

    # ---- timing -----------------------------------------------------------------------------

    def _lose(self, reason: str) -> None:
        if not self.report.lost:
            self.report.lost, self.report.lost_reason = True, reason

    def _wall(self, wav_secs: float) -> float | None:
        """When the caller's audio at ``wav_secs`` of the file was sent, if it has been."""
        sent = self._track.sent_at if self._track is not None else []
        k = max(0, math.ceil(wav_secs / FRAME_SECS - 1e-6) - 1)
        if k >= len(sent):
            return None
        return float(sent[k] + (wav_secs - k * FRAME_SECS))

    def _onsets(self) -> list[float]:
        """Arrival times where bot speech began (a loud frame after a quiet gap)."""
        return [
            t
            for i, t in enumerate(self.loud_at)
            if i == 0 or t - self.loud_at[i - 1] >= ONSET_GAP_SECS
        ]

    def _reply_onset(self, utterance: int) -> float | None:
        end = self._wall(self.utterances[utterance].end)
        if end is None:
            return None
        return next((t for t in self._onsets() if t >= end), None)

    def turns(self) -> list[CallerTurn]:
        """Each utterance with the caller-side voice-to-voice of the reply that began
        before the caller spoke again (a reply after that is ``late``, not answered)."""
        out: list[CallerTurn] = []
        for i, utterance in enumerate(self.utterances):
            turn = CallerTurn(i, utterance.end)
            end, onset = self._wall(utterance.end), self._reply_onset(i)
            nxt = self._wall(self.utterances[i + 1].start) if i + 1 < len(self.utterances) else None
            if end is not None and onset is not None:
                if nxt is None or onset < nxt:
                    turn.reply_after_secs = onset - end
                else:
                    turn.late = True
            out.append(turn)
        return out


async def place_call(
    url: str,
    wav: str | Path,
    *,
    token: str | None = None,
    local_address: str | None = None,
    connect_timeout_secs: float = 60.0,
    linger_secs: float = 1.5,
    max_wait_secs: float = 20.0,
    stall_secs: float = 5.0,
) -> CallReport:
    """One whole call: offer, play ``wav``, wait for the last reply, read the server's view,
    hang up. Never raises for what the server does (a refusal or a lost call is reported)."""
    caller = WebRTCCaller(url, wav, token=token, local_address=local_address)
    try:
        if await caller.call() == 200 and await caller.wait_connected(connect_timeout_secs):
            await caller.wait_done(
                linger_secs=linger_secs, max_wait_secs=max_wait_secs, stall_secs=stall_secs
            )
            await caller.server_view()
    finally:
        report = await caller.hang_up()
    return report
