"""Phone callers for benchmarks/serve_load.py (``--transport twilio``, issue #12).

Each caller is a Twilio Media Streams client (streamdouble) of the supervisor's
``/phone/ws/twilio``, set up the way benchmarks/phone_latency.py sets up its phone path:
examples/audio/two_turns.wav at 8 kHz through μ-law, paced in real time, then ``TAIL_SECS``
of silence; the bot's audio is laid on the caller's timeline and read with the runner's rule
(speech end → first loud bot audio). A call's outcome is a ``PhoneCallReport``: the fields
of the WebRTC caller's ``CallReport``, so serve_load's summary and table read both alike.

- **refused**: a full supervisor closes the socket before accepting it (code 1013), which
  the client sees as its WebSocket handshake refused (HTTP 403).
- **lost**: the socket closed before the call's end (a killed worker: the supervisor's relay
  closes the carrier's socket), or no bot audio at all. A phone bot sends audio only while
  it speaks, so a bot that stalls mid-call shows as unanswered turns, not as a lost call.
- **server turns**: the worker logs each call's id with the caller's number masked to its
  last two digits; caller i calls from a number ending in i (two digits), which finds its
  id in the log, then ``GET /api/sessions/ID`` (as phone_latency does).
- **answered within**: a reply that has not begun by the end of the tail (the caller hangs up
  once the bot has been quiet for a second) counts as unanswered.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from benchmarks.common import REPO, SPEECH_WAV
from benchmarks.phone_latency import (
    FRAME_SECS,
    Caller,
    bot_speech,
    latencies,
    make_caller,
    phone_recording,
    session_chunks,
    session_config,
    twilio_url,
    user_turns,
)
from voicebot.testing.webrtc_caller import CallerTurn, CallReport

if TYPE_CHECKING:
    from streamdouble.session import SessionResult

    from benchmarks.serve_host import ServeProcess

#: The WebSocket handshake's "switching protocols": the supervisor accepted the call.
ACCEPTED = 101
#: Silence the caller sends after its last question (phone_latency's default).
TAIL_SECS = 5.0
#: Bounds on the bot's first audio after the caller's audio, and on its last reply (the
#: WebRTC caller's ``max_wait_secs``).
WAIT_SECS = 20.0
#: Callers are told apart in the server's log by two digits.
MAX_CALLERS = 100
CLOSED_BY = {"agent": "the server closed the socket", "streamdouble": "streamdouble closed it"}


class PhoneCallReport(CallReport):
    """A ``CallReport`` whose ``status`` is the WebSocket handshake's (0 until it is known,
    101 accepted, 403 refused by a full supervisor, 599 no connection) and whose ``pc_id``
    is the server's call id (from its log)."""

    @property
    def refused(self) -> bool:
        return self.status != ACCEPTED


@cache
def line_audio() -> Caller:
    """The caller's audio, made once: two_turns.wav at 8 kHz μ-law, then the tail."""
    out = REPO / "out" / "serve_load" / "phone"
    return make_caller(SPEECH_WAV, out, lead=0.0, gap=None, tail=TAIL_SECS)


class PhoneCaller:
    """Caller ``index`` of a round: ``call`` places the whole call; ``wait_heard`` (for the
    fault run) waits for the bot's reply to an utterance while the call is on."""

    def __init__(self, server: ServeProcess, log: Path, index: int) -> None:
        from streamdouble.session import Session

        if not 0 <= index < MAX_CALLERS:
            raise ValueError(f"caller {index}: at most {MAX_CALLERS} callers in a round")
        self.server, self.log, self.tag = server, log, f"{index:02d}"
        self.caller = line_audio()
        config = replace(
            session_config(from_number=f"+1555{index:07d}"),
            response_timeout_s=WAIT_SECS,
            max_drain_s=WAIT_SECS,
        )
        self.session = Session(twilio_url(server), self.caller.frames, config=config)
        self.report = PhoneCallReport(status=0)

    async def call(self) -> PhoneCallReport:
        """Play the caller's audio, wait for the bot to finish, read the server's view.
        Never raises for what the server does (a refusal or a lost call is reported)."""
        from websockets.exceptions import InvalidStatus

        run = asyncio.ensure_future(self.session.run())
        while not run.done() and self.report.status != ACCEPTED:  # fault run: who is live
            if any(e.kind == "connected" for e in self.session.result.events):
                self.report.status = ACCEPTED
            await asyncio.wait({run}, timeout=0.02)
        try:
            result = await run
        except InvalidStatus as e:
            self.report.status = e.response.status_code
            self.report.detail = "the supervisor refused the socket"
            return self.report
        except Exception as e:  # a failed call is reported, not raised
            self.report.detail = f"{type(e).__name__}: {e}"[:200]
            if self.report.status == ACCEPTED:
                self._lose(f"the call failed: {self.report.detail}")
            else:
                self.report.status = 599
            return self.report
        self.report.status = ACCEPTED
        self._read(result)
        await self._server_view()
        return self.report

    def _read(self, result: SessionResult) -> None:
        """The caller-side turns, how the call ended, the pacing."""
        recording = phone_recording(session_chunks(result))
        bot = bot_speech(recording)
        utterances = self.caller.utterances
        self.report.turns = [
            # Late: bot speech began after the end, but only once the caller spoke again.
            CallerTurn(i, u.end, v, late=v is None and any(b.start >= u.end for b in bot))
            for i, (u, v) in enumerate(
                zip(utterances, latencies(self.caller, recording), strict=True)
            )
        ]
        self.report.bot_frames = result.media_frames_received
        self.report.send_late_max_secs = result.pacing.max_lateness_s
        events = {e.kind: e.at for e in result.events}
        if "connected" in events:
            self.report.connect_secs = events["connected"] - events["connecting"]
        if result.closed_by is not None:
            before = " before the bot spoke" if result.closed_before_audio else ""
            self._lose(f"{CLOSED_BY.get(result.closed_by, result.closed_by)} early{before}")
        elif result.timed_out:
            self._lose(f"no bot audio {WAIT_SECS:g} s after the caller's audio")
        notes = [str(v) for v in result.violations] + list(result.warnings)
        if notes:
            self.report.detail = "; ".join(notes)[:300]

    async def _server_view(self) -> None:
        """The server's turns of this call (its id from the log), if it still has them."""
        pattern = rf"phone: twilio call (\S+) from \*+{self.tag} answered"
        found = re.findall(pattern, self.log.read_text(errors="replace"))
        if not found:
            return
        self.report.pc_id = found[-1]
        with contextlib.suppress(httpx.HTTPError):
            self.report.server_turns = await user_turns(self.server, found[-1]) or []

    def _lose(self, reason: str) -> None:
        if not self.report.lost:
            self.report.lost, self.report.lost_reason = True, reason

    async def wait_heard(self, utterance: int, timeout_secs: float = 60.0) -> bool:
        """Until bot audio arrived after the end of ``utterance`` (0-based) on the caller's
        timeline, or False. Any audio counts: without a mixer (background sound), Pipecat
        sends a phone line audio only while the bot speaks."""
        end = self.caller.utterances[utterance].end
        result = self.session.result
        deadline = time.monotonic() + timeout_secs
        while time.monotonic() < deadline:
            origin = result.started_at - FRAME_SECS  # frame n is sent at origin + n * 20 ms
            if result.started_at and any(
                e.kind == "media_received" and e.at - origin >= end for e in result.events
            ):
                return True
            await asyncio.sleep(0.1)
        return False
