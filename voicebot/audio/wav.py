"""WAV in, WAV out: 16-bit mono PCM at a chosen rate, whatever the file held."""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class AudioFileError(ValueError):
    """A file that is not audio voicebot can read, with the reason."""


@dataclass(frozen=True)
class Pcm:
    """Mono 16-bit little-endian samples and their rate."""

    samples: np.ndarray  # int16
    sample_rate: int

    @property
    def duration_secs(self) -> float:
        return len(self.samples) / self.sample_rate

    def to_bytes(self) -> bytes:
        return self.samples.astype("<i2").tobytes()


def _to_float(raw: bytes, width: int) -> np.ndarray:
    if width == 1:
        return (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    if width == 2:
        return np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    if width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        ints = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        ints = np.where(ints & 0x800000, ints - 0x1000000, ints)
        return ints.astype(np.float32) / 8388608.0
    if width == 4:
        return np.frombuffer(raw, dtype="<i4").astype(np.float32) / 2147483648.0
    raise AudioFileError(f"unsupported sample width of {width} bytes")


def resample(samples: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Float samples at another rate (soxr, the resampler Pipecat itself uses)."""
    if rate_in == rate_out or len(samples) == 0:
        return samples
    import soxr

    return np.asarray(soxr.resample(samples, rate_in, rate_out, quality="HQ"), dtype=np.float32)


def read_wav(path: str | Path, sample_rate: int | None = None) -> Pcm:
    """A PCM WAV as mono int16, mixed down and resampled to ``sample_rate`` if given.

    Raises ``AudioFileError`` naming the problem for missing, empty or non-PCM files.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioFileError(f"{path}: no such file")
    try:
        with wave.open(str(path), "rb") as w:
            channels, width, rate, n = (
                w.getnchannels(),
                w.getsampwidth(),
                w.getframerate(),
                w.getnframes(),
            )
            raw = w.readframes(n)
    except (wave.Error, EOFError) as e:
        raise AudioFileError(f"{path}: not a PCM WAV file ({e})") from e
    if rate <= 0 or channels <= 0:
        raise AudioFileError(f"{path}: invalid header (rate {rate}, {channels} channels)")
    if not raw:
        raise AudioFileError(f"{path}: contains no audio")
    data = _to_float(raw[: len(raw) - len(raw) % (width * channels)], width)
    data = data.reshape(-1, channels).mean(axis=1)
    target = sample_rate or rate
    data = resample(data, rate, target)
    ints = np.clip(np.round(data * 32767.0), -32768, 32767).astype(np.int16)
    return Pcm(ints, target)


def write_wav(path: str | Path, pcm: Pcm) -> None:
    """Write mono 16-bit PCM; the parent folder is created if needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(pcm.sample_rate)
        w.writeframes(pcm.to_bytes())
