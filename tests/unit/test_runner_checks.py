"""What ``run_conversation`` says about a run it cannot trust: an output it could not write,
a pipeline that fell behind the caller, a VAD that never heard the caller."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from pipecat.frames.frames import Frame, InputAudioRawFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from voicebot import Bot, ConfigError, EnergyVAD, SilenceTurn, WavFile
from voicebot.audio import Pcm, write_wav
from voicebot.errors import OutputPathError
from voicebot.testing import FakeLLM, FakeSTT, FakeTTS, run_conversation

#: Only a guard against a hang: none of these runs should take more than a few seconds.
HANG_GUARD_SECS = 120


def fake_bot(**extra) -> Bot:  # type: ignore[no-untyped-def]
    return Bot(
        stt=FakeSTT(transcripts=["One.", "Two."], latency_secs=0.05),
        llm=FakeLLM(replies=["Yes.", "No."], ttft_secs=0.05),
        tts=FakeTTS(ttfb_secs=0.05),
        turn=SilenceTurn(silence_secs=0.3),
        **extra,
    )


async def converse(bot: Bot, wav: Path, out: Path, **options) -> object:  # type: ignore[no-untyped-def]
    return await asyncio.wait_for(
        run_conversation(bot, wav, out, env={}, linger_secs=0.5, **options), HANG_GUARD_SECS
    )


async def test_an_output_that_cannot_be_written_ends_the_run_with_an_error(
    caller_wav, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    wav = caller_wav([(0.2, 0.4)], total_secs=1.0)
    with pytest.raises(OutputPathError, match=f"cannot write {tmp_path}"):
        await converse(fake_bot(vad=EnergyVAD()), wav, tmp_path, speed=5)


async def test_silero_hears_the_synthetic_callers(caller_wav, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    wav = caller_wav([(0.3, 1.0), (2.5, 0.8)], total_secs=4.0)
    conv = await converse(fake_bot(), wav, tmp_path / "bot.wav")  # vad: Silero, the default
    assert [t.user_text for t in conv.user_turns] == ["One.", "Two."]  # type: ignore[attr-defined]
    assert not any("VAD" in w for w in conv.warnings)  # type: ignore[attr-defined]


async def test_a_run_whose_vad_never_fired_says_so(tmp_path: Path) -> None:
    rate = 16000
    t = np.arange(2 * rate) / rate
    tone = np.concatenate([np.zeros(rate // 2), 0.3 * np.sin(2 * np.pi * 1000 * t), np.zeros(rate)])
    wav = tmp_path / "tone.wav"
    write_wav(wav, Pcm((tone * 32767).astype(np.int16), rate))
    conv = await converse(fake_bot(), wav, tmp_path / "bot.wav", speed=2)  # Silero: not speech
    assert conv.user_turns == []  # type: ignore[attr-defined]
    assert any("VAD never heard the caller" in w for w in conv.warnings)  # type: ignore[attr-defined]
    assert "WARNING: the VAD never heard" in conv.report()  # type: ignore[attr-defined]


class Stall(FrameProcessor):
    """Holds the caller's audio once for ``secs``: the bot then hears the caller that late."""

    def __init__(self, secs: float) -> None:
        super().__init__()
        self._secs = secs
        self._frames = 0

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            self._frames += 1
            if self._frames == 10:
                await asyncio.sleep(self._secs)
        await self.push_frame(frame, direction)


async def test_a_pipeline_that_falls_behind_the_caller_is_flagged(
    caller_wav, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    wav = caller_wav([(0.5, 0.5)], total_secs=2.0)
    bot = fake_bot(vad=EnergyVAD(), processors={"after_input": [lambda: Stall(1.0)]})
    conv = await converse(bot, wav, tmp_path / "bot.wav")
    assert conv.lag_secs >= 0.9  # type: ignore[attr-defined]  # the stall is a lower bound
    assert any("fell up to" in w and "behind the caller" in w for w in conv.warnings)  # type: ignore[attr-defined]


def test_wavfile_refuses_speeds_it_cannot_keep_up_with(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"WavFile\(speed=40\).*at most 10"):
        WavFile(input=tmp_path / "x.wav", speed=40)
    with pytest.raises(ConfigError, match=r"WavFile\(speed=0\)"):
        WavFile(input=tmp_path / "x.wav", speed=0)
