"""WAV in, WAV out: 16-bit mono PCM at a chosen rate, whatever the file held.

The reader parses the RIFF chunks itself rather than through ``wave``: Python 3.11's
``wave`` refuses 32-bit float files and WAVE_FORMAT_EXTENSIBLE headers, which audio editors
and ``soundfile`` write by default.
"""

from __future__ import annotations

import struct
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Sample rates a caller recording may have: telephone band to studio rate. Outside it a
#: header is almost surely wrong (8 Hz would make a 10 s file play for hours).
MIN_SAMPLE_RATE = 8000
MAX_SAMPLE_RATE = 48000

_PCM = 1
_IEEE_FLOAT = 3
_EXTENSIBLE = 0xFFFE


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


@dataclass(frozen=True)
class _Format:
    encoding: int  # _PCM or _IEEE_FLOAT
    channels: int
    rate: int
    width: int  # bytes per sample


def _to_float(raw: bytes, fmt: _Format) -> np.ndarray:
    width = fmt.width
    if fmt.encoding == _IEEE_FLOAT:
        dtype = {4: "<f4", 8: "<f8"}.get(width)
        if dtype is None:
            raise AudioFileError(f"unsupported float sample width of {width} bytes")
        floats = np.frombuffer(raw, dtype=dtype).astype(np.float32)
        broken = int(np.count_nonzero(~np.isfinite(floats)))
        if broken:
            from loguru import logger

            logger.warning(f"{broken} of {floats.size} float samples are not numbers: silence")
        return np.clip(np.nan_to_num(floats, posinf=0.0, neginf=0.0), -1.0, 1.0)
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


def _parse(blob: bytes) -> tuple[_Format, bytes]:
    """The format and sample bytes of a RIFF/WAVE file; ``ValueError`` saying what is wrong."""
    if len(blob) < 12 or blob[:4] != b"RIFF" or blob[8:12] != b"WAVE":
        raise ValueError("no RIFF/WAVE header")
    fmt: _Format | None = None
    pos = 12
    while pos + 8 <= len(blob):
        chunk_id, size = blob[pos : pos + 4], struct.unpack("<I", blob[pos + 4 : pos + 8])[0]
        body = blob[pos + 8 : pos + 8 + size]  # a streamed file may claim more than it holds
        if chunk_id == b"fmt ":
            if len(body) < 16:
                raise ValueError("fmt chunk too short")
            tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
            if tag == _EXTENSIBLE:
                if len(body) < 26:
                    raise ValueError("extensible fmt chunk too short")
                tag = struct.unpack("<H", body[24:26])[0]  # the sub-format GUID's first field
            if tag not in (_PCM, _IEEE_FLOAT):
                raise ValueError(
                    f"unknown format: {tag} (mu-law is 7, A-law 6); only PCM and 32/64-bit "
                    "float are read: convert with `sox in.wav -e signed -b 16 out.wav`"
                )
            fmt = _Format(tag, channels, rate, (bits + 7) // 8)
        elif chunk_id == b"data":
            if fmt is None:
                raise ValueError("data chunk before the fmt chunk")
            return fmt, body
        pos += 8 + size + (size & 1)  # chunks are padded to an even length
    raise ValueError("no fmt chunk" if fmt is None else "no data chunk")


def resample(samples: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Float samples at another rate (soxr, the resampler Pipecat itself uses)."""
    if rate_in == rate_out or len(samples) == 0:
        return samples
    import soxr

    return np.asarray(soxr.resample(samples, rate_in, rate_out, quality="HQ"), dtype=np.float32)


def read_wav(path: str | Path, sample_rate: int | None = None) -> Pcm:
    """A WAV (PCM 8/16/24/32-bit or 32-bit float) as mono int16, mixed down and resampled
    to ``sample_rate`` if given.

    Raises ``AudioFileError`` naming the problem for missing, empty or unreadable files and
    for sample rates outside 8000..48000 Hz.
    """
    path = Path(path)
    if path.is_dir():
        raise AudioFileError(f"{path}: is a directory, not a WAV file")
    if not path.is_file():
        raise AudioFileError(f"{path}: no such file")
    try:
        blob = path.read_bytes()
    except OSError as e:
        raise AudioFileError(f"{path}: cannot be read ({e.strerror or e})") from e
    if not blob:
        raise AudioFileError(f"{path}: empty file (0 bytes), not a WAV")
    try:
        fmt, raw = _parse(blob)
    except (ValueError, struct.error) as e:
        raise AudioFileError(f"{path}: not a PCM WAV file ({e})") from e
    if fmt.channels <= 0 or fmt.width <= 0:
        raise AudioFileError(f"{path}: invalid header ({fmt.channels} channels, {fmt.width} B)")
    if not MIN_SAMPLE_RATE <= fmt.rate <= MAX_SAMPLE_RATE:
        raise AudioFileError(
            f"{path}: sample rate of {fmt.rate} Hz; voicebot reads WAVs at "
            f"{MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz: resample the file (e.g. to 16000 Hz)"
        )
    frame_bytes = fmt.width * fmt.channels
    raw = raw[: len(raw) - len(raw) % frame_bytes]
    if not raw:
        raise AudioFileError(f"{path}: contains no audio")
    data = _to_float(raw, fmt).reshape(-1, fmt.channels).mean(axis=1)
    target = sample_rate or fmt.rate
    data = resample(data, fmt.rate, target)
    ints = np.clip(np.round(data * 32768.0), -32768, 32767).astype(np.int16)  # int16 exact
    return Pcm(ints, target)


def write_wav(path: str | Path, pcm: Pcm) -> None:
    """Write mono 16-bit PCM; the parent folder is created if needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f, wave.open(f, "wb") as w:  # open() fails before wave does
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(pcm.sample_rate)
        w.writeframes(pcm.to_bytes())
