"""The caller's short pauses, as the VAD hears them, before the VAD calls speech stopped.

The VAD ends speech only after ``stop_secs`` of quiet (0.2 s by default), and a segmented
STT (offline Whisper) starts transcribing only then: its ~0.15-0.2 s of work sits after the
stop wait, in series. Most pauses that reach the stop were already pauses a fraction of it
in, so work that needs the caller's words can start there and be ready at the stop.

``PauseWatch.attach(vad)`` wraps the analyzer's public ``analyze_audio`` on that instance
(the analyzer runs inside Pipecat's user aggregator, the one place the VAD's state lives)
and calls each listener's ``caller_paused(stop_in_secs)`` once the VAD has heard
``after_secs`` of quiet inside speech (``stop_in_secs``: how much more quiet the stop needs),
and ``caller_resumed()`` if speech comes back before the stop. A listener's exception is
logged, never raised into the VAD.
"""

from __future__ import annotations

from typing import Any, Protocol

from loguru import logger
from pipecat.audio.vad.vad_analyzer import VADState


class PauseListener(Protocol):
    def caller_paused(self, stop_in_secs: float) -> None:
        """Quiet for ``after_secs``; the VAD will call speech stopped ``stop_in_secs`` later
        if the quiet lasts."""

    def caller_resumed(self) -> None: ...


class PauseWatch:
    """Turns the VAD's states into "paused" and "resumed" calls, once per pause."""

    def __init__(
        self, after_secs: float, listeners: list[PauseListener], stop_secs: float = 0.2
    ) -> None:
        if after_secs <= 0:
            raise ValueError(f"after_secs must be positive, not {after_secs}")
        self.after_secs = after_secs
        self.stop_secs = stop_secs  # the VAD's: kept up to date by ``attach``
        self.listeners = listeners
        self._quiet_secs = 0.0
        self._paused = False

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
            if not self._paused and self._quiet_secs >= self.after_secs - 1e-9:
                self._paused = True
                self._tell("caller_paused", max(0.0, self.stop_secs - self._quiet_secs))
            return
        self._quiet_secs = 0.0
        was_paused, self._paused = self._paused, False
        if was_paused and state == VADState.SPEAKING:
            self._tell("caller_resumed")

    def _tell(self, what: str, *args: float) -> None:
        for listener in self.listeners:
            try:
                getattr(listener, what)(*args)
            except Exception as e:
                logger.opt(exception=e).warning(f"{listener}: {what} failed: {e}")


def watch_pauses(vad: Any, stt: Any) -> PauseWatch | None:
    """Connect an STT service that works at pauses (``early_secs`` set, as the offline
    Whisper's) to the session's VAD; None when there is nothing to connect."""
    after = getattr(stt, "early_secs", None)
    if vad is None or not after or not hasattr(stt, "caller_paused"):
        return None
    watch = PauseWatch(after, [stt])
    watch.attach(vad)
    return watch
