"""A carrier's playback of the bot's audio, simulated for the fake peers: the buffer that marks
are about, and the truth the tests and benchmarks/phone_marks.py check the bot against.

The carrier plays the bot's audio in the order it came, in real time, each chunk starting
``buffer_secs`` after it arrived at the earliest (network and jitter buffer; what the carrier
has queued and not played) and never before the audio ahead of it has finished. A mark is
echoed when the audio that came before it has finished playing (Twilio, Telnyx, Plivo
alike); a ``clear`` drops what has not played and the marks waiting on it, which Twilio and
Telnyx echo at once (``echo_on_clear``) and Plivo never does. Every position is in samples of
line audio (8 kHz) since the call's first bot audio, so that what the peer played and which
marks it echoed before the clear can be set against what the bot kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

RATE = 8000


@dataclass
class Playout:
    buffer_secs: float = 0.0
    echo_on_clear: bool = False
    received: int = 0  # samples of bot audio received
    #: Each mark's position: the samples received before it.
    positions: dict[str, int] = field(default_factory=dict)
    #: Marks echoed as played (not the ones a clear returns), with when.
    echoed: list[tuple[str, float]] = field(default_factory=list)
    clears: list[float] = field(default_factory=list)
    played_at_clear: int | None = None  # samples played when the first clear came
    _segments: list[tuple[float, int, int]] = field(default_factory=list)  # start, from, to
    _ends_at: float = 0.0
    _pending: list[tuple[float, str]] = field(default_factory=list)  # due, name

    def audio(self, samples: int, now: float) -> None:
        start = max(now + self.buffer_secs, self._ends_at)
        self._segments.append((start, self.received, self.received + samples))
        self.received += samples
        self._ends_at = start + samples / RATE

    def mark(self, name: str, now: float) -> None:
        self.positions[name] = self.received
        self._pending.append((max(self._ends_at, now), name))

    def due(self, now: float) -> list[str]:
        """The marks whose audio has played by ``now``, in order (echo them)."""
        names = [name for due, name in self._pending if due <= now]
        self._pending = [(due, name) for due, name in self._pending if due > now]
        self.echoed.extend((name, now) for name in names)
        return names

    def played(self, now: float) -> int:
        """Samples played by ``now``."""
        total = 0
        for start, first, last in self._segments:
            total += min(last - first, max(0, int((now - start) * RATE)))
        return total

    def clear(self, now: float) -> list[str]:
        """A clear: what has not played is dropped; the marks to return at once. (A clear
        before any bot audio, for the caller's first words, drops nothing and is not kept.)"""
        if not self.received:
            return []
        if self.played_at_clear is None:
            self.played_at_clear = self.played(now)
        self.clears.append(now)
        played = self.played(now)
        kept: list[tuple[float, int, int]] = []
        for start, first, last in self._segments:
            if first < played:
                kept.append((start, first, min(last, played)))
        self._segments = kept
        self._ends_at = now
        dropped = [name for _, name in self._pending]
        self._pending = []
        return dropped if self.echo_on_clear else []

    def acknowledged_before_clear(self) -> int:
        """The furthest position a mark echoed before the first clear confirmed (samples)."""
        cut = self.clears[0] if self.clears else float("inf")
        return max((self.positions[n] for n, at in self.echoed if at <= cut), default=0)
