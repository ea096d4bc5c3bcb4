"""Whisper base from its two packages: joined and verified into the cache, then transcribing
real speech through the same trimmed-window decoder as tiny.en (no timing asserted)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import REPO
from voicebot.audio import read_wav
from voicebot.errors import ConfigError
from voicebot.providers.local.models import WHISPER_BASE, whisper_model_dir
from voicebot.providers.local.whisper import WhisperSTT

SPEECH = REPO / "examples" / "audio" / "offline_demo.wav"


def utterance() -> np.ndarray:
    pcm = read_wav(SPEECH, 16000)
    return pcm.samples[int(6.0 * 16000) : int(9.0 * 16000)].astype(np.float32) / 32768


def test_the_base_model_folder_is_assembled_and_verified() -> None:
    folder = WHISPER_BASE.folder()
    names = {p.name for p in folder.iterdir()}
    assert {"model.bin", "config.json", "tokenizer.json", "vocabulary.txt"} <= names
    seen = json.loads((folder / "model.bin.verified.json").read_text())
    assert seen["sha256"] == WHISPER_BASE.sha256
    assert seen["size"] == (folder / "model.bin").stat().st_size


def test_base_transcribes_real_speech_and_hears_silence_as_silence() -> None:
    transcriber = WhisperSTT(model="base").transcriber()
    result = transcriber.transcribe(utterance())
    words = result.text.lower()
    assert "library" in words and "tomorrow" in words, result.text
    assert result.no_speech_prob < 0.5
    silence = transcriber.transcribe(np.zeros(16000, np.float32))
    assert silence.no_speech_prob > 0.5 or not silence.text
    assert WhisperSTT(model="base").transcriber() is transcriber  # loaded once


def test_an_english_only_folder_refuses_another_language_when_loaded() -> None:
    with pytest.raises(ConfigError, match="English-only"):
        WhisperSTT(model_dir=whisper_model_dir(), language="de").transcriber()


def test_an_utterance_longer_than_whispers_window_is_transcribed_in_parts() -> None:
    """A caller talking 35 s with no pause the VAD hears failed the whole turn ("Invalid
    input features shape") before; now it is cut at a quiet moment and both parts heard."""
    transcriber = WhisperSTT(model="base").transcriber()
    words = utterance()
    filler = np.zeros(int(29.0 * 16000), np.float32)  # the limit falls in here
    filler[::400] = 1e-3  # not digital silence: a quiet line
    result = transcriber.transcribe(np.concatenate([words, filler, words]))
    text = result.text.lower()
    assert text.count("library") == 2, result.text  # the first part and the second


def test_a_long_utterance_is_cut_at_its_quietest_moment() -> None:
    from voicebot.providers.local.whisper import quietest_cut

    audio = np.full(40 * 16000, 0.1, np.float32)
    audio[27 * 16000 : 27 * 16000 + 320] = 0.0  # one quiet 20 ms, 27 s in
    assert quietest_cut(audio, 28 * 16000) == 27 * 16000
