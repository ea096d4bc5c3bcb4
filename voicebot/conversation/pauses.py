"""The caller's short pauses and first sounds, as the VAD hears them, before the VAD calls
speech stopped (``PauseWatch``) or started (``OnsetWatch``).

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

The start has the same kind of wait. Pipecat's VAD calls speech started after ``start_secs``
(0.2 s) of chunks that are both voiced (the model's confidence) and loud enough, loudness
being read over a 400 ms window and smoothed: on recorded prompts that is ~240-270 ms after
the first sound at p50, where the first voiced chunk comes ~46 ms after it. ``OnsetWatch``
tells its listener of that first voiced chunk (``caller_sounded``), and of one the VAD did
not go on to call speech (``caller_faded``), so the bot can pause at once when the caller
talks over it (``voicebot.conversation.barge_in``) and speak on if it was nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
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


def _tell(listener: object, what: str, *args: float) -> None:
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


class OnsetListener(Protocol):
    def caller_sounded(self) -> None:
        """A voiced chunk (or a sudden onset: ``OnsetWatch.rises``) while the VAD has not
        called speech (yet)."""

    def caller_faded(self) -> None:
        """The sound ``caller_sounded`` told of did not become speech the VAD called."""


class OnsetWatch:
    """The caller's first voiced chunk, before the VAD calls speech started.

    A chunk is voiced when the VAD's own model scores it at or over ``confidence`` (None: the
    VAD's own ``confidence``) and the chunk alone is at least as loud as the VAD's
    ``min_volume`` stands for (Pipecat maps -110..-10 LUFS to 0..1; the chunk's RMS level is
    compared, without the 400 ms window); or, with ``rise_db``, when it is a sudden onset
    (``rises``). After ``caller_sounded``, either the VAD calls
    speech (nothing more is said: the listener hears the VAD's own frames), or the sound
    fades: ``FADE_CHUNKS`` unvoiced chunks in a row, or no call within the VAD's
    ``start_secs`` + ``grace_secs``.
    """

    FADE_CHUNKS = 3
    #: A chunk that jumps ``rise_db`` over the louder of the two before also counts, if it
    #: is this loud (dBFS, and over ``min_volume``'s floor) and the model gives it at least
    #: this score: an unvoiced first consonant ("s", "t"), which Silero scores low for a
    #: chunk or two (benchmarks/first_sound_rise.py). Until the sound is voiced, chunks as
    #: loud and with as much voice keep it from fading (a long "sss").
    RISE_MIN_DB = -45.0
    RISE_MIN_SCORE = 0.1
    RISE_BEFORE_CHUNKS = 2

    def __init__(
        self,
        listener: OnsetListener,
        *,
        grace_secs: float = 0.25,
        confidence: float | None = None,
        rise_db: float | None = None,
    ) -> None:
        self.listener = listener
        self.grace_secs = grace_secs
        self.confidence = confidence
        self.rise_db = rise_db
        self._recent_db = [-math.inf] * self.RISE_BEFORE_CHUNKS  # the last chunks' levels
        # Per chunk, written where the VAD scores: VOICED, ROSE, SUSTAINS or 0.
        self._chunks: list[int] = []
        self._sounding = False  # told caller_sounded, not yet confirmed or faded
        self._by_rise = False  # ... and no chunk of it voiced yet: it began with a rise
        self._unvoiced = 0
        self._secs = 0.0
        self.onsets = 0  # caller_sounded calls so far
        self.faded = 0
        self._warned = False

    def attach(self, vad: Any) -> None:
        """Wrap ``vad.voice_confidence`` (run per chunk: on the event loop for voicebot's
        Silero, on Pipecat's VAD thread for others) and ``vad.analyze_audio`` (on the event
        loop) on this instance."""
        confidence = vad.voice_confidence
        analyze = vad.analyze_audio

        def scored(buffer: bytes) -> Any:
            score = confidence(buffer)  # Silero's is an array: passed on as it came
            try:
                params = vad.params
                floor = params.confidence if self.confidence is None else self.confidence
                self._chunks.append(
                    self.classify(
                        float(np.asarray(score).ravel()[0]),
                        level_db(buffer),
                        floor,
                        -110 + 100 * params.min_volume,
                    )
                )
            except Exception as e:  # never into the VAD: it would stop hearing the caller
                self._chunks.append(0)
                if not self._warned:
                    self._warned = True
                    logger.opt(exception=e).warning(f"onset watch: chunks not scored: {e}")
            return score

        async def watched(buffer: bytes) -> VADState:
            state = await analyze(buffer)  # every chunk of this call is scored by now
            chunks, self._chunks = self._chunks, []
            rate = vad.sample_rate or 16000
            chunk_secs = vad.num_frames_required() / rate
            self.observe(state, chunks, chunk_secs, vad.params.start_secs)
            return state

        vad.voice_confidence = scored
        vad.analyze_audio = watched

    def classify(self, score: float, db: float, confidence: float, floor_db: float) -> int:
        """One scored chunk: ``VOICED`` (the score and the VAD's loudness floor), ``ROSE`` (a
        sudden onset, ``rises``), ``SUSTAINS`` (loud and voiced enough to carry a sound a
        rise began) or 0. Keeps the levels the next chunks' rise is measured against."""
        before = max(self._recent_db)
        self._recent_db = [*self._recent_db[1:], db]
        if score >= confidence and db >= floor_db:
            return VOICED
        if self.rises(score, db, before, floor_db):
            return ROSE
        if self.rise_db is not None and score >= self.RISE_MIN_SCORE:
            return SUSTAINS if db >= max(self.RISE_MIN_DB, floor_db) else 0
        return 0

    def rises(self, score: float, db: float, before_db: float, floor_db: float = -math.inf) -> bool:
        """A sudden onset: ``rise_db`` over ``before_db`` (the louder of the chunks just
        before), as loud as ``RISE_MIN_DB`` and the VAD's floor, some voice in it."""
        return (
            self.rise_db is not None
            and score >= self.RISE_MIN_SCORE
            and db >= max(self.RISE_MIN_DB, floor_db)
            and db >= before_db + self.rise_db
        )

    def observe(
        self, state: VADState, chunks: list[int], chunk_secs: float, start_secs: float
    ) -> None:
        """The chunks one ``analyze_audio`` call scored (``classify``'s kinds; a bool is
        voiced or not), and the state it left the VAD in."""
        if state in (VADState.SPEAKING, VADState.STOPPING):
            self._sounding = False  # the VAD called it speech: its frames take over
            return
        for kind in chunks:
            kind = VOICED if kind is True else int(kind)
            if kind in (VOICED, ROSE):
                self._unvoiced = 0
                if not self._sounding:
                    self._sounding, self._secs = True, 0.0
                    self._by_rise = kind == ROSE
                    self.onsets += 1
                    _tell(self.listener, "caller_sounded")
                elif kind == VOICED:
                    self._by_rise = False
            elif self._sounding and kind == SUSTAINS and self._by_rise:
                self._unvoiced = 0
            elif self._sounding:
                self._unvoiced += 1
            if self._sounding:
                self._secs += chunk_secs
        if self._sounding and (
            self._unvoiced >= self.FADE_CHUNKS or self._secs > start_secs + self.grace_secs
        ):
            self._sounding, self._unvoiced = False, 0
            self.faded += 1
            _tell(self.listener, "caller_faded")


#: ``OnsetWatch.classify``'s kinds of chunk.
VOICED, ROSE, SUSTAINS = 3, 2, 1


def level_db(pcm: bytes) -> float:
    """RMS level of 16-bit PCM in dB below full scale (-inf for silence)."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
    if samples.size == 0:
        return -math.inf
    rms = float(np.sqrt(np.mean(samples * samples))) / 32768.0
    return 20 * math.log10(rms) if rms > 0 else -math.inf
