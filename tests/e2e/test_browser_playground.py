"""The browser playground end to end: a real Chromium talks to a served bot over WebRTC.

`voicebot serve` runs as a subprocess on a free loopback port. Debian's Chromium runs
headless under Playwright, with a recorded caller (examples/audio/two_turns.wav, looped)
as its microphone. Every request that does not go to that server is blocked, to show the
page needs nothing from the internet. The page reports what it heard of the bot through
``window.voicebot``, measured with a WebAudio analyser on the bot's remote track.

Needs /usr/bin/chromium (Debian's ``chromium`` package; CI installs it). Playwright's own
browser downloads are never used.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from voicebot.server.page import PAGE

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CALLER_WAV = REPO / "examples" / "audio" / "two_turns.wav"
#: The offline default with no tools: examples/offline_bot.py's tool turn (routing, arguments,
#: the answer: 2.5 s idle, 4-5 s on a busy machine) is longer than the looping caller's
#: pauses, so every answer would be cut before its audio (tests/local/test_offline_demo.py
#: runs that bot on its own caller).
OFFLINE_DEFAULT_BOT = (
    "from voicebot import Bot\n"
    'bot = Bot(greeting="Hello! I\'m a voice bot running entirely on this computer.")\n'
)

#: How long a hang-up or a closed tab may take to end the server's session. Ending waits for
#: whatever the pipeline is doing (the offline LLM may be mid-answer on a busy 2-core
#: machine), so this bounds a hang, not a speed: a session that ends is seen at once.
SESSION_END_SECS = 90.0

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)",
)

FAKE_BOT = """
from voicebot import Bot
from voicebot.testing import FakeLLM, FakeSTT, FakeTTS

bot = Bot(
    stt=FakeSTT(transcripts=["What time does the library open?", "Thanks."], latency_secs=0.05),
    llm=FakeLLM(replies=["At nine in the morning.", "You are welcome."], ttft_secs=0.05),
    tts=FakeTTS(ttfb_secs=0.05),
    turn="silence",
)
"""


# ---- the server ----------------------------------------------------------------------------


class Server:
    """`voicebot serve TARGET` in a subprocess; ``url`` once it printed that it is ready."""

    def __init__(self, target: Path, log_path: Path) -> None:
        self.url = ""
        self.log_path = log_path
        self._log = log_path.open("w")
        self.proc = subprocess.Popen(
            # Port 0: the server takes a free loopback port and prints its URL. One warm
            # worker process: the browser's call goes through the supervisor to it.
            [
                sys.executable,
                "-m",
                "voicebot.cli",
                "serve",
                str(target),
                "--port",
                "0",
                "--workers",
                "1",
            ],
            cwd=REPO,
            env={**os.environ, "VOICEBOT_LOOPBACK_ICE": "1"},
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        self._ready = threading.Event()
        self.started = time.monotonic()
        threading.Thread(target=self._read_stdout, daemon=True).start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._log.write(line)
            self._log.flush()
            found = re.search(r"serving .* at (http://127\.0\.0\.1:\d+/)", line)
            if found:
                self.url = found.group(1)
                self._ready.set()

    def wait_ready(self, timeout: float = 180.0) -> float:
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.2):
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"voicebot serve exited ({self.proc.returncode}):\n{self.log()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"voicebot serve not ready in {timeout:.0f}s:\n{self.log()}")
        return time.monotonic() - self.started

    def status(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + "api/status", timeout=5) as r:
            return json.load(r)  # type: ignore[no-any-return]

    def wait_sessions(self, n: int, timeout: float) -> float:
        start = time.monotonic()
        while self.status()["sessions"] != n:
            if time.monotonic() - start > timeout:
                raise AssertionError(f"{self.status()} after {timeout}s, wanted {n} sessions")
            time.sleep(0.1)
        return time.monotonic() - start

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text()[-6000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(2)  # Ctrl-C: uvicorn's graceful shutdown
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


@contextmanager
def serve(target: Path, tmp_path: Path) -> Iterator[Server]:
    server = Server(target, tmp_path / "serve.log")
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


# ---- the browser ---------------------------------------------------------------------------


@contextmanager
def browser_page(server: Server, tmp_path: Path) -> Iterator[tuple[Any, list[str]]]:
    """A headless Chromium page on the playground, with a recorded microphone and no
    internet: every request to anything but the server is aborted and listed."""
    from playwright.sync_api import sync_playwright

    origin = server.url.rstrip("/")
    blocked: list[str] = []

    def only_localhost(route: Any) -> None:
        url = route.request.url
        if url == origin or url.startswith(origin + "/"):
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={CALLER_WAV}",
                "--allow-loopback-in-peer-connection",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            context.route("**/*", only_localhost)
            page = context.pages[0] if context.pages else context.new_page()
            page.goto(server.url)
            yield page, blocked
        finally:
            context.close()


def page_state(page: Any) -> dict[str, Any]:
    return page.evaluate(  # type: ignore[no-any-return]
        """() => { const v = window.voicebot; return {state: v.state, pcState: v.pcState,
        error: v.error, connectSecs: v.connectSecs, firstBotAudioSecs: v.firstBotAudioSecs,
        botAudioSeconds: v.botAudioSeconds, timings: v.timings, turns: v.turns}; }"""
    )


def wait_for(page: Any, server: Server, condition: str, timeout: float, what: str) -> None:
    try:
        page.wait_for_function(condition, timeout=timeout * 1000, polling=100)
    except Exception as e:
        raise AssertionError(
            f"{what}: not within {timeout:.0f}s ({type(e).__name__})\n"
            f"page: {page_state(page)}\nserver log:\n{server.log()}"
        ) from None


def report(label: str, server_ready: float, state: dict[str, Any]) -> None:
    """Timings on stdout (shown with pytest -s) for the record."""
    print(
        f"\n[{label}] server ready {server_ready:.1f}s; after Connect: "
        f"{state['timings']}, connected {state['connectSecs']:.2f}s, first bot audio "
        f"{state['firstBotAudioSecs']:.2f}s, bot audio heard {state['botAudioSeconds']:.1f}s; "
        f"turns {[(t['user'], t['bot'], t['voice_to_voice_secs']) for t in state['turns']]}"
    )


# ---- tests ---------------------------------------------------------------------------------


def test_the_page_is_self_contained() -> None:
    """One document: no scripts, styles, fonts or images from anywhere, no CDN."""
    assert not re.search(r"https?://", PAGE)
    assert not re.search(r"\b(src|href)\s*=\s*[\"'](?!data:)", PAGE)
    assert "@import" not in PAGE and "url(" not in PAGE


@needs_chromium
def test_offline_bot_greets_hears_and_answers_in_the_browser(tmp_path: Path) -> None:
    """The offline default `Bot()` (Whisper, Qwen2.5-0.5B, Piper), end to end through WebRTC."""
    bot_file = tmp_path / "offline_default.py"
    bot_file.write_text(OFFLINE_DEFAULT_BOT)
    with serve(bot_file, tmp_path) as server:
        ready = time.monotonic() - server.started
        status = server.status()
        assert status["ready"] and status["bot"] == "WhisperSTT → LlamaLLM → PiperTTS"
        with browser_page(server, tmp_path) as (page, blocked):
            page.click("#connect")
            wait_for(page, server, "voicebot.state === 'connected'", 30, "WebRTC connection")
            assert server.status()["sessions"] == 1
            # The bot's voice reaches the page: the greeting, then answers.
            wait_for(page, server, "voicebot.botAudioSeconds > 0.5", 60, "bot audio in the page")
            # The caller's voice reaches the bot: Whisper transcribed it and the bot started
            # answering (the looping caller often talks over the answer, so it may be cut).
            wait_for(
                page,
                server,
                "voicebot.turns.some(t => t.user.trim() && t.voice_to_voice_secs !== null)",
                120,
                "a transcribed question and the start of its answer",
            )
            state = page_state(page)
            report("offline", ready, state)
            heard = " ".join(t["user"] for t in state["turns"]).lower()
            assert re.search(r"library|open|tomorrow|thank", heard), heard
            assert page.locator("#turns li").count() >= 2  # the page shows both sides

            page.click("#connect")  # hang up
            wait_for(page, server, "voicebot.state === 'idle'", SESSION_END_SECS, "hanging up")
            server.wait_sessions(0, timeout=SESSION_END_SECS)
            assert blocked == [], f"the page asked the internet for {blocked}"


@needs_chromium
def test_fake_bot_answers_what_the_browser_said_and_ends_with_the_tab(tmp_path: Path) -> None:
    """Scripted STT/LLM/TTS behind real VAD: the exact reply comes back as audio, and
    closing the tab ends the session."""
    bot_file = tmp_path / "fake_bot.py"
    bot_file.write_text(FAKE_BOT)
    with serve(bot_file, tmp_path) as server:
        ready = time.monotonic() - server.started
        with browser_page(server, tmp_path) as (page, blocked):
            page.click("#connect")
            wait_for(page, server, "voicebot.state === 'connected'", 30, "WebRTC connection")
            # No greeting: any bot audio is the answer to what the microphone said.
            wait_for(page, server, "voicebot.botAudioSeconds > 0.5", 60, "the answer's audio")
            wait_for(page, server, "voicebot.turns.some(t => t.bot)", 30, "the answer's turn")
            state = page_state(page)
            report("fake", ready, state)
            first = state["turns"][0]
            assert first["user"].startswith("What time does the library open?")
            assert first["bot"] == "At nine in the morning."
            assert first["voice_to_voice_secs"] is not None

            page.close()  # the tab goes away: the session ends with it
            server.wait_sessions(0, timeout=SESSION_END_SECS)
            assert blocked == [], f"the page asked the internet for {blocked}"
