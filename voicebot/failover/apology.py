"""The apology a caller hears when no TTS can speak: a clip rendered once with the offline
Piper voice (``voicebot/assets/apology.wav``, package data), so a call whose every voice is
down still says something instead of going silent.

``FallbackTTS`` plays it when a reply (or the LLM group's spoken apology) cannot be spoken
by any of its TTSs; the context then holds ``APOLOGY_TEXT``, which is what the caller heard.
Re-render after changing the text: ``python -m voicebot.failover.apology``.
"""

from __future__ import annotations

import functools
from pathlib import Path

#: What the clip says, word for word: the bot's default apology (``Bot.apology``, which the
#: LLM group says), so a call whose voices are all down hears the words the context records.
APOLOGY_TEXT = "Sorry, I'm having trouble right now. Please try again in a moment."
#: The clip's own rate: enough for speech, half the size of Piper's 22.05 kHz.
CLIP_SAMPLE_RATE = 16000


def clip_path() -> Path:
    """Where the clip is, in the installed package (``[tool.setuptools.package-data]``)."""
    return Path(__file__).resolve().parent.parent / "assets" / "apology.wav"


@functools.cache
def apology_audio(sample_rate: int) -> bytes:
    """The clip as 16-bit mono PCM at ``sample_rate`` (read and resampled once per rate)."""
    from voicebot.audio.wav import read_wav

    return read_wav(clip_path(), sample_rate).to_bytes()


def render(path: Path | None = None) -> Path:
    """Speak ``APOLOGY_TEXT`` with the bundled Piper voice and write it to ``path``."""
    import numpy as np

    from voicebot.audio.wav import Pcm, resample, write_wav
    from voicebot.providers.local.piper import PiperTTS

    voice = PiperTTS().voice()
    audio = b"".join(chunk.audio_int16_bytes for chunk in voice.synthesize(APOLOGY_TEXT))
    samples = np.frombuffer(audio, dtype="<i2").astype(np.float32) / 32768.0
    samples = resample(samples, voice.config.sample_rate, CLIP_SAMPLE_RATE)
    ints = np.clip(np.round(samples * 32768.0), -32768, 32767).astype(np.int16)
    target = path or clip_path()
    write_wav(target, Pcm(ints, CLIP_SAMPLE_RATE))
    return target


if __name__ == "__main__":
    print(f"wrote {render()}")
