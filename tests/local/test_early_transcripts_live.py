"""Real speech through Silero and Whisper: the transcripts started at the caller's pauses are
the turns' transcripts, word for word the ones the VAD's stop would have given."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import REPO
from voicebot import Bot
from voicebot.audio import Pcm, read_wav, write_wav
from voicebot.providers.local import WhisperSTT
from voicebot.testing import FakeLLM, FakeTTS
from voicebot.transports.wav import WavFile

SPEECH = REPO / "examples" / "audio" / "offline_demo.wav"


def first_seconds(path: Path, secs: float, out: Path) -> Path:
    pcm = read_wav(path)
    quiet = np.zeros(int(1.5 * pcm.sample_rate), np.int16)
    head = pcm.samples[: int(secs * pcm.sample_rate)]
    write_wav(out, Pcm(np.concatenate([head, quiet]), pcm.sample_rate))
    return out


async def heard(caller: Path, out: Path, early_secs: float | None) -> tuple[list[str], Any]:
    pytest.importorskip("faster_whisper")
    bot = Bot(
        stt=WhisperSTT(early_secs=early_secs),
        llm=FakeLLM(replies=["Okay."] * 10),
        tts=FakeTTS(),
    )
    transport = WavFile(input=caller, output=out, linger_secs=1.0)
    await bot.prepare(transport=transport)
    session = bot.session(transport=transport)
    await session.run()
    return [t.user_text for t in session.turns if t.user_text], session.stt.early  # type: ignore[attr-defined]


async def test_transcripts_started_at_pauses_are_the_same_words_as_at_the_stop(
    tmp_path: Path,
) -> None:
    caller = first_seconds(SPEECH, 9.0, tmp_path / "caller.wav")
    at_stop, none = await heard(caller, tmp_path / "a.wav", None)
    early_words, early = await heard(caller, tmp_path / "b.wav", 0.064)
    assert at_stop, "the VAD heard no turn in the caller's speech"
    assert none.started == 0
    assert early.used >= 1, early  # at least one turn's transcript was the early one
    assert early_words == at_stop
