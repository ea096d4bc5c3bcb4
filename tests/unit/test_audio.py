"""Reading WAVs of any common shape, and finding speech in them from the audio alone."""

from __future__ import annotations

import struct
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


def riff(fmt_body: bytes, data: bytes) -> bytes:
    """A WAV written by hand, for headers Python's ``wave`` cannot write."""
    chunks = b"fmt " + struct.pack("<I", len(fmt_body)) + fmt_body
    chunks += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def fmt_chunk(tag: int, *, rate: int, channels: int, bits: int, sub_format: int = 0) -> bytes:
    block = channels * bits // 8
    body = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    if tag == 0xFFFE:  # WAVE_FORMAT_EXTENSIBLE: valid bits, channel mask, sub-format GUID
        guid = struct.pack("<H", sub_format) + bytes.fromhex("000000001000800000aa00389b71")
        body += struct.pack("<HHI", 22, bits, 0x4) + guid
    return body


def test_float32_wavs_plain_and_extensible_are_read(tmp_path: Path) -> None:
    tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)).astype("<f4")
    plain = tmp_path / "float.wav"
    plain.write_bytes(riff(fmt_chunk(3, rate=16000, channels=1, bits=32), tone.tobytes()))
    pcm = read_wav(plain)
    assert pcm.sample_rate == 16000 and len(pcm.samples) == 16000
    assert np.allclose(pcm.samples / 32768, tone, atol=0.001)

    stereo = np.repeat(tone, 2)
    ext = tmp_path / "extensible.wav"
    ext.write_bytes(
        riff(fmt_chunk(0xFFFE, rate=48000, channels=2, bits=32, sub_format=3), stereo.tobytes())
    )
    assert abs(read_wav(ext, 16000).duration_secs - 1 / 3) < 0.01

    ints = (tone * 32767).astype("<i2")
    ext_pcm = tmp_path / "extensible_pcm.wav"
    ext_pcm.write_bytes(
        riff(fmt_chunk(0xFFFE, rate=16000, channels=1, bits=16, sub_format=1), ints.tobytes())
    )
    assert np.array_equal(read_wav(ext_pcm).samples, ints)


def test_mu_law_is_refused_with_the_conversion_and_nan_samples_are_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from loguru import logger

    mulaw = tmp_path / "mulaw.wav"
    mulaw.write_bytes(riff(fmt_chunk(7, rate=8000, channels=1, bits=8), b"\xff" * 800))
    with pytest.raises(AudioFileError, match=r"mu-law is 7.*sox"):
        read_wav(mulaw)

    broken = np.array([0.5, np.nan, np.inf, -0.5], dtype="<f4")
    nan = tmp_path / "nan.wav"
    nan.write_bytes(riff(fmt_chunk(3, rate=16000, channels=1, bits=32), broken.tobytes()))
    seen: list[str] = []
    handler = logger.add(lambda m: seen.append(str(m)), level="WARNING")
    try:
        pcm = read_wav(nan)
    finally:
        logger.remove(handler)
    assert list(pcm.samples[1:3]) == [0, 0] and pcm.samples[0] > 0 > pcm.samples[3]
    assert any("2 of 4 float samples are not numbers" in m for m in seen)


def test_empty_files_directories_and_odd_rates_say_what_is_wrong(tmp_path: Path) -> None:
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(AudioFileError, match="empty file"):
        read_wav(tmp_path / "empty.wav")
    with pytest.raises(AudioFileError, match="is a directory"):
        read_wav(tmp_path)
    slow = write(tmp_path / "8hz.wav", b"\x00\x01" * 100, rate=8, channels=1, width=2)
    with pytest.raises(AudioFileError, match=r"sample rate of 8 Hz.*8000 to 48000 Hz"):
        read_wav(slow)
    fast = write(tmp_path / "96k.wav", b"\x00\x01" * 100, rate=96000, channels=1, width=2)
    with pytest.raises(AudioFileError, match="96000 Hz"):
        read_wav(fast)
    alaw = tmp_path / "alaw.wav"
    alaw.write_bytes(riff(fmt_chunk(6, rate=8000, channels=1, bits=8), b"\x55" * 800))
    with pytest.raises(AudioFileError, match=r"not a PCM WAV file.*format: 6"):
        read_wav(alaw)
