"""The caller's short pauses, as the VAD hears them, before the VAD calls speech stopped.

The VAD ends speech only after ``stop_secs`` of quiet (0.2 s by default), and a segmented
STT (offline Whisper) starts transcribing only then: its ~0.15-0.2 s of work sits after the
stop wait, in series. Most pauses that reach the stop were already pauses a fraction of it
in, so work that needs the caller's words can start there and be ready at the stop.

``PauseWatch.attach(vad)`` wraps the analyzer's public ``analyze_audio`` on that instance
(the analyzer runs inside Pipecat's user aggregator, the one place the VAD's state lives)
and calls each listener's ``caller_paused(stop_in_secs)`` once the VAD has heard
``after_secs`` of quiet inside speech (each listener may have its own; ``stop_in_secs``:
how much more quiet the stop needs), and ``caller_resumed()`` if speech comes back before
the stop. A listener's exception is logged, never raised into the VAD.

Listeners: the offline Whisper (``early_secs``: transcribes the words so far) and
``SmartTurn`` (``early_secs``: asks its model about the pause before the stop, so the
answer is ready when the stop comes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from loguru import logger
from pipecat.audio.vad.vad_analyzer import VADState


class PauseListener(Protocol):
    def caller_paused(self, stop_in_secs: float) -> None:
        """Quiet for ``after_secs``; the VAD will call speech stopped ``stop_in_secs`` later
        if the quiet lasts."""

    def caller_resumed(self) -> None: ...


class PauseWatch:
    """Turns the VAD's states into "paused" and "resumed" calls, once per pause per listener.

    Every listener hears at ``after_secs`` of quiet unless ``add`` gave it its own point."""

    def __init__(
        self, after_secs: float, listeners: list[PauseListener], stop_secs: float = 0.2
    ) -> None:
        self.after_secs = _positive(after_secs)
        self.stop_secs = stop_secs  # the VAD's: kept up to date by ``attach``
        self._parties: list[_Party] = []
        for listener in listeners:
            self.add(listener)
        self._quiet_secs = 0.0

    @property
    def listeners(self) -> list[PauseListener]:
        return [p.listener for p in self._parties]

    def add(self, listener: PauseListener, after_secs: float | None = None) -> None:
        """Tell ``listener`` of pauses once they reach ``after_secs`` (default: the watch's)."""
        after = self.after_secs if after_secs is None else _positive(after_secs)
        self._parties.append(_Party(listener, after))

    def attach(self, vad: Any) -> None:
        """Wrap ``vad.analyze_audio`` (a Pipecat ``VADAnalyzer``) on this instance."""
        analyze = vad.analyze_audio
        self.stop_secs = vad.params.stop_secs

        async def watched(buffer: bytes) -> VADState:
            state = await analyze(buffer)
            rate = vad.sample_rate or 16000
            # Read each time: a VADParamsUpdateFrame can change the stop mid-call.
            self.stop_secs = vad.params.stop_secs
            self.observe(state, len(buffer) / (2 * rate))
            return state

        vad.analyze_audio = watched

    def observe(self, state: VADState, secs: float) -> None:
        """One chunk of ``secs`` of audio that left the VAD in ``state``."""
        if state == VADState.STOPPING:
            self._quiet_secs += secs
            for party in self._parties:
                if not party.paused and self._quiet_secs >= party.after_secs - 1e-9:
                    party.paused = True
                    stop_in = max(0.0, self.stop_secs - self._quiet_secs)
                    _tell(party.listener, "caller_paused", stop_in)
            return
        self._quiet_secs = 0.0
        for party in self._parties:
            was_paused, party.paused = party.paused, False
            if was_paused and state == VADState.SPEAKING:
                _tell(party.listener, "caller_resumed")


@dataclass
class _Party:
    listener: PauseListener
    after_secs: float
    paused: bool = False


def _positive(after_secs: float) -> float:
    if after_secs <= 0:
        raise ValueError(f"after_secs must be positive, not {after_secs}")
    return after_secs


def _tell(listener: PauseListener, what: str, *args: float) -> None:
    try:
        getattr(listener, what)(*args)
    except Exception as e:
        logger.opt(exception=e).warning(f"{listener}: {what} failed: {e}")


def watch_pauses(vad: Any, *parties: Any) -> PauseWatch | None:
    """Connect every party that works at pauses (an ``early_secs`` set and a
    ``caller_paused``: the offline Whisper, ``SmartTurn``'s stop strategy) to the session's
    VAD, each at its own ``early_secs``; None when there is nothing to connect. A wrapping
    strategy's ``inner`` (``speculate=True``'s) is looked through."""
    seen = [getattr(p, "inner", p) for p in parties]
    early = [
        p
        for p in seen
        if getattr(p, "early_secs", None) and hasattr(p, "caller_paused") and vad is not None
    ]
    if not early:
        return None
    watch = PauseWatch(early[0].early_secs, [])
    for party in early:
        watch.add(party, party.early_secs)
    watch.attach(vad)
    return watch
