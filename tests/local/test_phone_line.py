"""A phone line into the offline STT: real 8 kHz telephone prompts (Debian's
``asterisk-core-sounds-en-wav``, Allison Smith's recordings, CC-BY-SA-3.0, read from the
system at test time and not copied here) played as the caller of a bot whose input is 8 kHz,
transcribed by Whisper base through the pipeline. Skipped where the package is absent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voicebot import Bot, SilenceTurn
from voicebot.audio import read_wav
from voicebot.audio.wav import Pcm, write_wav
from voicebot.providers.local import WhisperSTT
from voicebot.testing import FakeLLM, FakeTTS, run_conversation

PROMPTS = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
#: Three prompts with a transcript in core-sounds-en.txt, and the words each must come out with.
CLIPS = {
    "agent-pass": ["password", "pound", "key"],
    "all-circuits-busy-now": ["circuits", "busy"],
    "cannot-complete-as-dialed": ["call", "cannot", "completed", "dialed"],
}

pytestmark = pytest.mark.skipif(
    not all((PROMPTS / f"{name}.wav").is_file() for name in CLIPS),
    reason="needs Debian's asterisk-core-sounds-en-wav (8 kHz telephone prompts)",
)


def phone_caller(path: Path) -> Path:
    """The three prompts at 8 kHz, 2 s of line silence before each and after the last."""
    gap = np.zeros(16000, np.int16)
    parts = [gap]
    for name in CLIPS:
        pcm = read_wav(PROMPTS / f"{name}.wav")
        assert pcm.sample_rate == 8000, "the prompts are telephone audio"
        parts += [pcm.samples.astype(np.int16), gap]
    write_wav(path, Pcm(np.concatenate(parts), 8000))
    return path


async def test_whisper_transcribes_a_real_8khz_phone_caller_through_the_pipeline(
    tmp_path: Path,
) -> None:
    bot = Bot(
        stt=WhisperSTT(model="base"),
        llm=FakeLLM(replies=[], ttft_secs=0.05),
        tts=FakeTTS(ttfb_secs=0.05, secs_per_char=0.01),
        turn=SilenceTurn(silence_secs=0.6),
        sample_rate_in=8000,
        sample_rate_out=8000,
    )
    conv = await run_conversation(
        bot, phone_caller(tmp_path / "caller.wav"), tmp_path / "bot.wav", linger_secs=1.0
    )
    heard = [t.user_text.lower() for t in conv.user_turns]
    assert len(heard) == len(CLIPS), conv.transcript
    for text, (name, words) in zip(heard, CLIPS.items(), strict=True):
        missing = [w for w in words if w not in text]
        assert not missing, f"{name}: {text!r} lacks {missing}"
