"""A real ``voicebot serve`` (supervisor + worker processes) on loopback, and callers that
really connect to it over WebRTC (aiortc), for the serving tests.

Nothing here waits on a wall-clock margin: every wait polls for a condition, bounded only so
that a hang fails the test instead of the suite.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
FAKE_BOT = REPO / "examples" / "fake_bot.py"
#: Bounds on waits that should end far sooner; they only turn a hang into a failure.
START_BOUND_SECS = 240.0
WAIT_BOUND_SECS = 120.0


class Served:
    """``voicebot serve ARGS`` in a subprocess; ``url`` once every worker is warm."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.log_path = log
        self._log = log.open("w")
        self.url: str | None = None
        self.token: str | None = None
        if "--token" in args:
            self.token = args[args.index("--token") + 1]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "voicebot.cli", "serve", *args, "--port", "0"],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self._lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.append(line)
            if found := re.search(r"at (http://\S+?/)", line):
                self.url = found.group(1)

    def wait_ready(self) -> str:
        deadline = time.monotonic() + START_BOUND_SECS
        while self.url is None:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited {self.proc.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"serve not ready in {START_BOUND_SECS} s:\n{self.log()}")
            time.sleep(0.1)
        return self.url

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def get(self, path: str, **kw: Any) -> httpx.Response:
        assert self.url is not None
        kw.setdefault("headers", self.headers())
        return httpx.get(self.url + path.lstrip("/"), timeout=30, **kw)

    def status(self) -> dict[str, Any]:
        answer = self.get("api/status")
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def metric(self, name: str) -> float:
        text = self.get("metrics").text
        found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
        assert found, f"{name} not in /metrics:\n{text}"
        return float(found.group(1))

    def wait_for(self, what: str, condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + WAIT_BOUND_SECS
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {WAIT_BOUND_SECS} s\n{self.log()}")
            time.sleep(0.1)

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text()[-6000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """``serve(*args)``: a started server (stopped after the test)."""
    started: list[Served] = []

    def start(*args: str, env: dict[str, str] | None = None, wait: bool = True) -> Served:
        served = Served(list(args), tmp_path / f"serve{len(started)}.log", env)
        started.append(served)
        if wait:
            served.wait_ready()
        return served

    yield start
    for served in started:
        served.stop()


def silence_track() -> Any:
    """A microphone that hears nothing: 20 ms of silence at a time, paced in real time (a
    peer that sends no audio at all is taken for a dead one and its call ends)."""
    import fractions

    import numpy as np
    from aiortc import MediaStreamTrack
    from av import AudioFrame

    class Silence(MediaStreamTrack):
        kind = "audio"

        def __init__(self) -> None:
            super().__init__()
            self._sent = 0
            self._start: float | None = None

        async def recv(self) -> AudioFrame:
            rate, samples = 48000, 960
            if self._start is None:
                self._start = time.monotonic()
            due = self._start + self._sent * samples / rate
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            frame = AudioFrame.from_ndarray(
                np.zeros((1, samples), dtype=np.int16), format="s16", layout="mono"
            )
            frame.sample_rate = rate
            frame.pts = self._sent * samples
            frame.time_base = fractions.Fraction(1, rate)
            self._sent += 1
            return frame

    return Silence()


class Caller:
    """A WebRTC peer that calls the server like a browser tab would (no microphone: it
    sends nothing), and counts the bot audio it receives."""

    def __init__(self, served: Served, headers: dict[str, str] | None = None) -> None:
        self.served = served
        self.extra_headers = headers or {}
        self.pc_id: str | None = None
        self.audio_frames = 0
        self.loud_frames = 0
        self._pc: Any = None
        self._readers: list[asyncio.Task[None]] = []

    async def call(self) -> httpx.Response:
        """Offer, and on an answer connect; returns the offer's HTTP answer."""
        from aiortc import RTCPeerConnection, RTCSessionDescription

        from voicebot.transports.webrtc import allow_loopback_ice

        allow_loopback_ice()
        self._pc = pc = RTCPeerConnection()
        pc.addTrack(silence_track())
        pc.on("track", lambda track: self._readers.append(asyncio.create_task(self._read(track))))
        await pc.setLocalDescription(await pc.createOffer())
        async with httpx.AsyncClient(timeout=60) as client:
            answer = await client.post(
                f"{self.served.url}api/offer",
                json={"sdp": pc.localDescription.sdp, "type": "offer"},
                headers={**self.served.headers(), **self.extra_headers},
            )
        if answer.status_code == 200:
            body = answer.json()
            self.pc_id = body["pc_id"]
            await pc.setRemoteDescription(RTCSessionDescription(body["sdp"], body["type"]))
        return answer

    @property
    def session_path(self) -> str:
        """``api/sessions/ID``, the id quoted (Pipecat's ids hold a ``#``)."""
        from urllib.parse import quote

        assert self.pc_id is not None
        return f"api/sessions/{quote(self.pc_id, safe='')}"

    async def _read(self, track: Any) -> None:
        import numpy as np

        with contextlib.suppress(Exception):  # the track ends with the call
            while True:
                frame = await track.recv()
                self.audio_frames += 1
                if np.abs(frame.to_ndarray()).max() > 300:
                    self.loud_frames += 1

    async def wait_connected(self) -> None:
        deadline = time.monotonic() + WAIT_BOUND_SECS
        while self._pc.connectionState != "connected":
            assert time.monotonic() < deadline, f"never connected: {self._pc.connectionState}"
            await asyncio.sleep(0.1)

    async def hang_up(self) -> None:
        for task in self._readers:
            task.cancel()
        if self._pc is not None:
            await self._pc.close()


async def eventually(what: str, condition: Callable[[], bool], log: Callable[[], str]) -> None:
    """Poll ``condition`` (run in a thread: it may make blocking HTTP calls) until true,
    keeping this event loop free for the callers' WebRTC."""
    deadline = time.monotonic() + WAIT_BOUND_SECS
    while not await asyncio.to_thread(condition):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {WAIT_BOUND_SECS} s\n{log()}")
        await asyncio.sleep(0.2)
