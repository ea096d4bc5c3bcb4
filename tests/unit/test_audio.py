"""Reading WAVs of any common shape, and finding speech in them from the audio alone."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from voicebot.audio import AudioFileError, read_wav, speech_segments
from voicebot.audio.segments import Segment
from voicebot.testing import caller_latencies, caller_recording


def write(path: Path, samples: bytes, *, rate: int, channels: int, width: int) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(samples)
    return path


def test_stereo_8bit_and_24bit_files_become_mono_16bit_at_the_asked_rate(tmp_path: Path) -> None:
    t = np.arange(8000) / 8000
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    u8 = np.repeat(((tone * 127) + 128).astype(np.uint8), 2).tobytes()
    pcm = read_wav(write(tmp_path / "u8.wav", u8, rate=8000, channels=2, width=1), 16000)
    assert pcm.sample_rate == 16000 and abs(pcm.duration_secs - 1.0) < 0.01
    assert 0.45 < np.abs(pcm.samples).max() / 32768 < 0.55

    i24 = (tone * (2**23 - 1)).astype(np.int32)
    raw = np.stack([i24 & 0xFF, (i24 >> 8) & 0xFF, (i24 >> 16) & 0xFF], axis=1).astype(np.uint8)
    pcm = read_wav(write(tmp_path / "i24.wav", raw.tobytes(), rate=8000, channels=1, width=3))
    assert pcm.sample_rate == 8000
    assert np.allclose(pcm.samples / 32768, tone, atol=0.001)


def test_broken_files_raise_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "junk.wav").write_bytes(b"RIFF....WAVEjunk")
    with pytest.raises(AudioFileError, match="not a PCM WAV"):
        read_wav(tmp_path / "junk.wav")
    with pytest.raises(AudioFileError, match="contains no audio"):
        read_wav(write(tmp_path / "empty.wav", b"", rate=16000, channels=1, width=2))
    with pytest.raises(AudioFileError, match="no such file"):
        read_wav(tmp_path / "nope.wav")


def test_speech_segments_find_utterances_and_bridge_short_pauses() -> None:
    pcm = caller_recording([(0.5, 1.0), (1.7, 0.5), (4.0, 0.8)], total_secs=6.0)
    segments = speech_segments(pcm, window_secs=0.005, min_gap_secs=0.5)
    assert len(segments) == 2  # the 0.2 s pause inside the first utterance is bridged
    assert abs(segments[0].start - 0.5) < 0.02 and abs(segments[0].end - 2.2) < 0.02
    assert abs(segments[1].start - 4.0) < 0.02 and abs(segments[1].end - 4.8) < 0.02


def test_caller_latency_pairs_each_utterance_with_the_next_reply() -> None:
    caller = [Segment(0.0, 1.0), Segment(3.0, 4.0), Segment(6.0, 7.0)]
    bot = [Segment(0.2, 0.4), Segment(1.5, 2.5), Segment(7.8, 9.0)]  # a greeting overlaps
    assert caller_latencies(caller, bot) == pytest.approx([0.5, None, 0.8])
