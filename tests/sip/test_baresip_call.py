"""The SIP transport against a real SIP user agent: Debian's baresip calls the bot.

baresip is an independent implementation of everything on the wire (SIP, SDP offer/answer,
RTP, G.711, RFC 4733 DTMF), so these tests fail if either side's reading of the RFCs is off.
The bot is examples/fake_bot.py's (Silero VAD and smart-turn hear the real speech; STT, LLM
and TTS are fakes, the TTS a 220 Hz tone). Loopback only; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import runpy
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.sip import baresip_peer
from tests.sip.baresip_peer import Baresip, free_port

pytest.importorskip(
    "aiosipua", reason='the SIP extra is not installed: pip install "voicebot[sip]"'
)
pytest.importorskip("aiortp", reason='the SIP extra is not installed: pip install "voicebot[sip]"')
if (why := baresip_peer.missing()) is not None:
    pytest.skip(why, allow_module_level=True)

from pipecat.frames.frames import Frame, InputDTMFFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from voicebot.audio.wav import Pcm, read_wav, write_wav
from voicebot.transports.sip import SIP

ROOT = Path(__file__).resolve().parents[2]
#: Where the caller's first question ends on examples/audio/two_turns.wav (measured: its
#: energy in 100 ms windows is zero from 3.3 s to 7.5 s).
FIRST_TURN_ENDS = 3.3
BOUND = 60.0  # seconds: generous, only so that a broken run ends


def fake_bot() -> Any:
    return runpy.run_path(str(ROOT / "examples" / "fake_bot.py"))["bot"]


@pytest.fixture
def mic_wav(tmp_path: Path) -> Path:
    """two_turns.wav at 8 kHz, then 40 s of silence: baresip's aufile stops the audio
    stream (and with it DTMF) at the end of the file, and the call must outlive the talk."""
    speech = read_wav(ROOT / "examples" / "audio" / "two_turns.wav", 8000)
    path = tmp_path / "mic.wav"
    silence = np.zeros(8000 * 40, dtype=np.int16)
    write_wav(path, Pcm(np.concatenate([speech.samples, silence]), 8000))
    return path


class DTMFRecorder(FrameProcessor):
    """Notes every keypad press the transport delivers."""

    def __init__(self, pressed: list[str], arrived: asyncio.Event) -> None:
        super().__init__()
        self.pressed = pressed
        self.arrived = arrived

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputDTMFFrame):
            self.pressed.append(str(frame.button.value))
            self.arrived.set()
        await self.push_frame(frame, direction)


async def wait_for(predicate: Any, what: str, timeout: float = BOUND) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def energy_windows(path: Path, window: float = 0.1) -> tuple[np.ndarray, int]:
    pcm = read_wav(path)
    s = pcm.samples.astype(np.float64)
    n = int(pcm.sample_rate * window)
    rms = np.array([np.sqrt(np.mean(s[i : i + n] ** 2)) for i in range(0, len(s) - n + 1, n)])
    return rms, pcm.sample_rate


def dominant_hz(path: Path, start: float, end: float) -> float:
    pcm = read_wav(path)
    seg = pcm.samples[int(start * pcm.sample_rate) : int(end * pcm.sample_rate)].astype(float)
    spectrum = np.abs(np.fft.rfft(seg * np.hanning(len(seg))))
    return float(np.fft.rfftfreq(len(seg), 1 / pcm.sample_rate)[int(np.argmax(spectrum))])


async def test_caller_talks_presses_keys_and_hangs_up(tmp_path: Path, mic_wav: Path) -> None:
    pressed: list[str] = []
    arrived = asyncio.Event()
    bot = fake_bot().replace(processors={"after_input": [lambda: DTMFRecorder(pressed, arrived)]})
    port = free_port()
    session = await bot.start_session(transport=SIP(host="127.0.0.1", port=port))
    run = asyncio.create_task(session.run())
    try:
        async with Baresip(tmp_path / "baresip", mic_wav) as caller:
            await caller.command("dial", f"sip:bot@127.0.0.1:{port}")
            await caller.wait_event("CALL_ESTABLISHED", BOUND)
            info = session.transport.call_info
            assert info is not None and info.codec == "PCMU"
            assert info.caller.startswith("sip:caller@127.0.0.1")

            # Both questions answered: the bot heard real speech over G.711 and replied.
            await wait_for(lambda: len(session.turns) >= 2, "two answered turns")
            # The reply was said; what the caller heard of it is a prefix (on a busy machine
            # the second question may arrive before the first reply ends, and cut it off).
            first = session.turns[0]
            assert first.said_text.startswith("It opens at nine"), first
            heard = first.bot_text.removesuffix("—").strip()
            assert heard and first.said_text.startswith(heard), first

            for digit in "4#":
                await caller.command("sndcode", digit)
            await wait_for(lambda: len(pressed) >= 2, "two DTMF presses")
            assert pressed[:2] == ["4", "#"]

            loop = asyncio.get_running_loop()
            hung_up_at = loop.time()
            await caller.command("hangup")
            await asyncio.wait_for(asyncio.shield(run), BOUND)
            ended_after = loop.time() - hung_up_at
            await caller.wait_event("CALL_CLOSED", BOUND)
            recording = caller.recording()
    finally:
        if not run.done():
            run.cancel()
    print(f"session ended {ended_after * 1000:.0f} ms after the caller's BYE")
    assert run.exception() is None
    assert recording is not None, caller.log()[-3000:]

    rms, _rate = energy_windows(recording)
    loud = rms > 300
    first_end = int(FIRST_TURN_ENDS / 0.1)
    # The bot is quiet while the caller asks (fake_bot has no greeting) ...
    assert not loud[:first_end].any(), "the bot spoke before the caller's question ended"
    # ... and answers after it: at least a second of its voice, the FakeTTS 220 Hz tone.
    assert loud[first_end:].sum() >= 10, f"no reply heard: {np.round(rms).tolist()}"
    start = (first_end + int(np.argmax(loud[first_end:]))) * 0.1
    assert abs(dominant_hz(recording, start + 0.1, start + 0.6) - 220) < 15


async def test_bot_ends_the_call_with_bye_after_its_last_words(
    tmp_path: Path, mic_wav: Path
) -> None:
    bot = fake_bot().replace(greeting="Hello, this is the library.")
    port = free_port()
    session = await bot.start_session(transport=SIP(host="127.0.0.1", port=port))
    run = asyncio.create_task(session.run())
    try:
        async with Baresip(tmp_path / "baresip", mic_wav) as caller:
            await caller.command("dial", f"sip:bot@127.0.0.1:{port}")
            await caller.wait_event("CALL_ESTABLISHED", BOUND)
            await session.end(goodbye="Goodbye.")  # an EndFrame: speak, then hang up
            closed = await caller.wait_event("CALL_CLOSED", BOUND)
            await asyncio.wait_for(asyncio.shield(run), BOUND)
            recording = caller.recording()
    finally:
        if not run.done():
            run.cancel()
    assert run.exception() is None
    # baresip reports who ended the call: the peer's BYE, not its own hangup.
    assert "Connection reset by peer" in str(closed.get("param", "")), closed
    assert recording is not None
    rms, _ = energy_windows(recording)
    # Greeting (27 characters) and goodbye (8) at FakeTTS's 0.05 s per character, 1.75 s:
    # both were played out before the BYE, not cut by it (a window is 0.1 s).
    heard = (rms > 300).sum() * 0.1
    assert heard >= 1.6, f"only {heard:.1f}s of the bot's last words reached the caller"
