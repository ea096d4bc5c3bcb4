"""Live upsampling by a whole ratio (8 kHz → 16, 24 or 48 kHz) that holds audio back ~3 ms.

Why not soxr's stream resampler, which Pipecat's serializers use: it works in blocks, so a
20 ms chunk of 8 kHz phone audio comes out of its very-high-quality 8 → 16 kHz stream 17 to
131 ms later, ~64 ms on average, in bursts. On a phone call that is how much later the VAD
hears the caller stop speaking, and the whole reply is that much later (measured from the
caller's side: benchmarks/phone_latency.py, docs/telephony.md "Latency of the phone path").

This is a linear-phase windowed-sinc FIR (Kaiser, β = 7: ≥ 72 dB down from 4.15 kHz at 8 kHz in)
run on the zero-stuffed stream, with its state carried from chunk to chunk: every chunk comes
out at once, in full, delayed by the filter's half-length (``delay_secs``, 2.9-3.0 ms).
"""

from __future__ import annotations

import numpy as np

#: Filter taps per unit of the ratio: 48 × L − 1 taps at the output rate is the same
#: ~0.74 kHz transition band (fc = 0.94 × the input's Nyquist) for every ratio L.
TAPS_PER_RATIO = 48
KAISER_BETA = 7.0
CUTOFF = 0.94  # of the input's Nyquist frequency


class StreamUpsampler:
    """16-bit mono PCM at ``in_rate`` in, at ``out_rate`` (a whole multiple) out, chunk by
    chunk: each call returns exactly ``ratio`` samples per sample given."""

    def __init__(self, in_rate: int, out_rate: int) -> None:
        if not self.supports(in_rate, out_rate):
            raise ValueError(f"{in_rate} → {out_rate} Hz is not upsampling by a whole ratio")
        self.in_rate, self.out_rate = in_rate, out_rate
        self.ratio = out_rate // in_rate
        n = TAPS_PER_RATIO * self.ratio - 1
        t = np.arange(n) - (n - 1) / 2
        fc = CUTOFF / (2 * self.ratio)  # cycles per output sample
        taps = 2 * fc * np.sinc(2 * fc * t) * np.kaiser(n, KAISER_BETA)
        self._taps = taps * (self.ratio / taps.sum())  # unity gain after zero-stuffing
        self._state = np.zeros(n - 1)

    @staticmethod
    def supports(in_rate: int, out_rate: int) -> bool:
        return 0 < in_rate < out_rate and out_rate % in_rate == 0

    @property
    def delay_secs(self) -> float:
        """How far the output lags the input (the filter's group delay)."""
        return (len(self._taps) - 1) / 2 / self.out_rate

    def process(self, pcm: bytes) -> bytes:
        samples = np.frombuffer(pcm, dtype="<i2")
        if samples.size == 0:
            return b""
        stuffed = np.zeros(samples.size * self.ratio)
        stuffed[:: self.ratio] = samples
        extended = np.concatenate([self._state, stuffed])
        self._state = extended[-self._state.size :]
        out = np.convolve(extended, self._taps, mode="valid")
        return np.clip(np.rint(out), -32768, 32767).astype("<i2").tobytes()
