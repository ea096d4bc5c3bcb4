"""A worker app (``voicebot.server.worker.build_app``) serving examples/fake_bot.py on a loopback
TCP port, in a thread of its own, for the phone tests; and the caller's speech at 8 kHz.

The bot is fake_bot (Silero + smart-turn hear real speech; fake STT/LLM/TTS answer, the TTS
with a 220 Hz tone) plus a processor after the input transport that records every
``InputDTMFFrame`` it sees, so a test can tell that a key press reached the pipeline. Every
wait is a poll for a condition, bounded only so that a hang fails the test.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf
import soxr
from pipecat.frames.frames import Frame, InputDTMFFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from tests.conftest import REPO, load_example

#: Bounds that only turn a hang into a failure (the machine is shared and slow).
START_BOUND_SECS = 240.0
WAIT_BOUND_SECS = 60.0
#: The caller's two turns in examples/audio/two_turns.wav (seconds), from its energy.
TURN_1 = (0.0, 3.4)
TURN_2 = (7.4, 9.3)
LINE_RATE = 8000
FRAME = 160  # samples in 20 ms at 8 kHz

#: Digits every session's DTMF recorder saw, in order (all sessions, all tests).
DTMF_SEEN: list[str] = []


class DTMFRecorder(FrameProcessor):
    """Passes every frame on; notes the keys of ``InputDTMFFrame``s."""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputDTMFFrame):
            DTMF_SEEN.append(frame.button.value)
        await self.push_frame(frame, direction)


@dataclass
class Worker:
    """The served worker: ``ws(path)`` and ``http(path)`` URLs, and its app.

    ``seen`` keeps every call's session as it starts: the playground lets an ended call's
    session go at once (its memory comes back), and the tests look at a call after its
    caller hung up."""

    port: int
    app: Any
    seen: dict[str, Any] = field(default_factory=dict)

    def ws(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def calls(self) -> list[str]:
        r = httpx.get(f"http://127.0.0.1:{self.port}/worker/calls", timeout=30)
        r.raise_for_status()
        return list(r.json()["calls"])

    def wait_for(self, predicate: Any, what: str, bound: float = WAIT_BOUND_SECS) -> float:
        """Poll ``predicate()`` until true; the seconds it took (fails after ``bound``)."""
        start = time.monotonic()
        while not predicate():
            if time.monotonic() - start > bound:
                raise AssertionError(f"not {what} within {bound} s")
            time.sleep(0.05)
        return time.monotonic() - start

    def ended_at(self, call_id: str) -> float:
        """When the call's session ended (``time.time()``, set by the playground)."""
        live = self.app.state.playground.sessions[call_id]
        assert live.ended_at is not None, "the session has not ended"
        return float(live.ended_at)

    def session(self, call_id: str) -> Any:
        """The call's session, live or ended (None if no such call started)."""
        return self.seen.get(call_id)


@pytest.fixture(scope="package")
def worker() -> Iterator[Worker]:
    yield from serve_fake_bot()


def serve_fake_bot(**changes: Any) -> Iterator[Worker]:
    """examples/fake_bot.py (with ``changes``) on a worker app on loopback, until closed."""
    import uvicorn

    from voicebot.server.worker import build_app
    from voicebot.transports.phone.pcm import PhoneWebSocket

    fake = load_example("fake_bot.py", "phone_fake_bot").bot
    bot = fake.replace(
        processors={"after_input": (DTMFRecorder,)},
        # The generic socket's own settings: a short silence watchdog for its test.
        transport=PhoneWebSocket(gone_after_secs=2.0),
        **changes,
    )
    app = build_app(bot, calls=4, loopback_ice=False, ice_servers=[])
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_BOUND_SECS
    while not (server.started and app.state.playground.ready.is_set()):
        if not thread.is_alive() or time.monotonic() > deadline:
            raise AssertionError("the worker app did not start")
        time.sleep(0.1)
    served = Worker(port=port, app=app)
    playground = app.state.playground
    run_call = playground.run_call

    async def remembered(call_id: str, session: Any) -> Any:
        served.seen[call_id] = session
        return await run_call(call_id, session)

    playground.run_call = remembered
    yield served
    server.should_exit = True
    thread.join(timeout=30)
    sock.close()


def _speech_8k() -> np.ndarray:
    audio, rate = sf.read(REPO / "examples" / "audio" / "two_turns.wav", dtype="int16")
    return np.asarray(soxr.resample(audio, rate, LINE_RATE), dtype=np.int16)


SPEECH_8K = _speech_8k()


def frames(span: tuple[float, float]) -> list[np.ndarray]:
    """20 ms frames (int16, 8 kHz) of the caller's speech between ``span`` seconds."""
    part = SPEECH_8K[int(span[0] * LINE_RATE) : int(span[1] * LINE_RATE)]
    part = part[: len(part) - len(part) % FRAME]
    return [part[i : i + FRAME] for i in range(0, len(part), FRAME)]


SILENCE = np.zeros(FRAME, dtype=np.int16)


def dominant_hz(pcm: np.ndarray, rate: int = LINE_RATE) -> float:
    """The strongest frequency in ``pcm``: FakeTTS speaks a 220 Hz tone, so audio decoded
    in the right encoding peaks there, and in a wrong one it is noise."""
    x = pcm.astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[int(np.argmax(spectrum[1:])) + 1])


async def pace(started: float, n: int) -> None:
    """Sleep until frame ``n`` of a 20 ms stream started at ``started`` is due."""
    delay = started + n * 0.02 - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)
