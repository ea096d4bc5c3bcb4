"""Sessions of one bot cannot break each other: no shared processor, and a session start
builds its ONNX analyzers off the event loop that serves the calls already running."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from pipecat.processors.frame_processor import FrameProcessor

from voicebot import Bot, ConfigError, SilenceTurn, SileroVAD, SmartTurn, WavFile
from voicebot.providers.base import BuildContext
from voicebot.session import Session
from voicebot.testing import FakeLLM, FakeSTT, FakeTTS


class Tag(FrameProcessor):
    """A custom stage that does nothing: only its identity matters here."""


def fake_bot(**extra: Any) -> Bot:
    return Bot(
        stt=FakeSTT(transcripts=["One."]),
        llm=FakeLLM(replies=["Yes."]),
        tts=FakeTTS(),
        **{"turn": SilenceTurn(), **extra},
    )


def wav(tmp_path: Path, caller_wav: Any, name: str) -> WavFile:
    return WavFile(input=caller_wav([(0.2, 0.5)], total_secs=1.0), output=tmp_path / name)


# ---- no processor shared by two sessions ---------------------------------------------------


@pytest.mark.parametrize("spec", [Tag, lambda: Tag()], ids=["class", "factory"])
def test_two_sessions_of_one_bot_get_their_own_processor(
    spec: Any, tmp_path: Path, caller_wav: Any
) -> None:
    bot = fake_bot(processors={"after_stt": [spec]})
    one = bot.session(transport=wav(tmp_path, caller_wav, "1.wav"), env={})
    two = bot.session(transport=wav(tmp_path, caller_wav, "2.wav"), env={})
    (tag1,) = [p for p in one.pipeline.processors if isinstance(p, Tag)]
    (tag2,) = [p for p in two.pipeline.processors if isinstance(p, Tag)]
    assert tag1 is not tag2
    # Each is linked into its own session only: session 1's STT feeds session 1's stage.
    assert one.stt.next is tag1 and two.stt.next is tag2


def test_a_processor_instance_is_refused_when_the_bot_is_made() -> None:
    with pytest.raises(ConfigError) as refused:
        fake_bot(processors={"before_tts": [Tag()]})
    message = str(refused.value)
    assert "\n" not in message
    assert "processors['before_tts'] holds a Tag instance" in message
    assert "pass the class (Tag) or a factory (lambda: Tag(...))" in message


def test_a_factory_that_hands_out_one_instance_twice_is_refused(
    tmp_path: Path, caller_wav: Any
) -> None:
    shared = Tag()
    bot = fake_bot(processors={"after_stt": [lambda: shared]})
    bot.session(transport=wav(tmp_path, caller_wav, "1.wav"), env={})
    with pytest.raises(ConfigError, match="two sessions would share it"):
        bot.session(transport=wav(tmp_path, caller_wav, "2.wav"), env={})


# ---- a session start does not stall the loop -----------------------------------------------


class HandshakeVAD(SileroVAD):
    """Silero whose build waits until the event loop has run a task (bounded): built on the
    loop, the loop could not run it, so the wait would time out and ``ticked`` stay False."""

    def build(self, ctx: BuildContext) -> Any:
        built_on.append(threading.get_ident())
        ticked.append(loop_ran.wait(timeout=30))
        return super().build(ctx)


class RecordingSmartTurn(SmartTurn):
    def build(self, ctx: BuildContext) -> Any:
        turn_built_on.append(threading.get_ident())
        return super().build(ctx)


built_on: list[int] = []
turn_built_on: list[int] = []
ticked: list[bool] = []
loop_ran = threading.Event()


async def test_start_session_builds_the_onnx_analyzers_off_the_loop(
    tmp_path: Path, caller_wav: Any
) -> None:
    built_on.clear()
    turn_built_on.clear()
    ticked.clear()
    loop_ran.clear()
    bot = fake_bot(vad=HandshakeVAD(), turn=RecordingSmartTurn())

    async def tick() -> None:
        while not loop_ran.is_set():  # runs only while the loop is free during the build
            await asyncio.sleep(0.001)
            if built_on:
                loop_ran.set()

    ticker = asyncio.create_task(tick())
    session = await bot.start_session(transport=wav(tmp_path, caller_wav, "1.wav"), env={})
    ticker.cancel()
    assert built_on and built_on[0] != threading.get_ident()  # another thread built it
    assert ticked == [True]  # and the loop kept running meanwhile
    assert isinstance(session, Session)
    assert turn_built_on == built_on  # the smart-turn analyzer in that thread too


def test_the_sync_session_path_still_builds_everything(tmp_path: Path, caller_wav: Any) -> None:
    built_on.clear()
    ticked.clear()
    loop_ran.set()  # nothing to wait for: a script has no loop to keep free
    session = fake_bot(vad=HandshakeVAD()).session(
        transport=wav(tmp_path, caller_wav, "1.wav"), env={}
    )
    assert built_on == [threading.get_ident()] and isinstance(session, Session)
