"""``stt=[DeepgramSTT(), WhisperSTT()]``: speech-to-text that fails over without losing words.

LiveKit's STT fallback starts the next stream on live audio, so what the caller said while
the first vendor was dropping is gone; Pipecat's Deepgram service loses ~4 s of audio on a
dropped socket and never finalizes the utterance in flight. Here the group keeps the input
audio since the last final transcript (``AudioRing``: the utterance in flight, with the
VAD's start and stop, plus a second of lead-in) and, when the active STT fails, feeds all of
it into the next one before any live audio, so the next STT hears the whole utterance and
the words spoken during the drop reach the transcript.

The active STT fails when it reports a vendor error (``policy.fails_over``: a refused or
dropped socket, a 401, a 5xx, an error message) or stays silent: no answer (a final
transcript, or the metrics an STT reports when it finalized nothing) within the policy's
budget after the VAD says the caller stopped (``FailoverPolicy.first_budget("stt")``; a
local STT gets the longer local budget). Recovery is lazy: a member that failed is taken back
at the start of a later utterance, once its backoff has run out and it can work again
(Pipecat reconnects a dropped Deepgram by itself; one it gave up on stays out), with the
lead-in replayed so it hears the utterance from its start. A turn switches at most
``max_switches_per_turn`` times.

Needs Pipecat's metrics on (voicebot sessions turn them on): Deepgram's answer to a
finalize that found no words is only visible as its TTFB metrics.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import ClassVar

from loguru import logger
from pipecat.frames.frames import (
    ErrorFrame,
    Frame,
    InputAudioRawFrame,
    InterimTranscriptionFrame,
    MetricsFrame,
    TranscriptionFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.metrics.metrics import ProcessingMetricsData, TTFBMetricsData
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pydantic import field_validator

from voicebot.failover.group import FailoverGroup
from voicebot.failover.members import GroupOfProviders, resolve_members
from voicebot.failover.policy import (
    DEFAULT_POLICY,
    FailoverPolicy,
    Reason,
    Stage,
    classify,
    describe,
    fails_over,
)
from voicebot.providers.base import BuildContext, STTProvider

#: Audio kept ahead of an utterance while nobody speaks: the VAD reports a start only after
#: some speech (and a segmented STT such as Whisper keeps a second of lead-in itself).
PREROLL_SECS = 1.0
#: The most audio the ring holds (a caller talking on without a final transcript).
MAX_RING_SECS = 60.0
#: Audio kept when a final transcript arrives while the caller is still speaking: the final
#: covers audio up to a moment before it arrived, and a repeated word beats a lost one.
KEEP_ON_FINAL_SECS = 0.5


def audio_secs(frame: InputAudioRawFrame) -> float:
    """Seconds of 16-bit PCM in an input audio frame."""
    if frame.sample_rate <= 0 or frame.num_channels <= 0:
        return 0.0
    return len(frame.audio) / (2 * frame.num_channels * frame.sample_rate)


@dataclass
class _Entry:
    frame: Frame
    direction: FrameDirection
    secs: float


class AudioRing:
    """The input audio since the last final transcript, with the VAD's verdicts in the
    order they reached the STT, ready to be replayed into another STT."""

    def __init__(self, *, preroll_secs: float = PREROLL_SECS, max_secs: float = MAX_RING_SECS):
        self.preroll_secs = preroll_secs
        self.max_secs = max_secs
        self._entries: deque[_Entry] = deque()
        self.secs = 0.0

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, frame: Frame, direction: FrameDirection) -> None:
        secs = audio_secs(frame) if isinstance(frame, InputAudioRawFrame) else 0.0
        self._entries.append(_Entry(frame, direction, secs))
        self.secs += secs
        if self.secs > self.max_secs:
            self.keep(self.max_secs)

    def keep(self, secs: float) -> None:
        """Forget the oldest entries until at most ``secs`` of audio are left."""
        while self._entries and self.secs > secs + 1e-9:
            self.secs -= self._entries.popleft().secs
        if not self._entries:
            self.secs = 0.0

    def clear(self) -> None:
        self._entries.clear()
        self.secs = 0.0

    @property
    def has_speech(self) -> bool:
        """Whether the VAD heard the caller start within what is kept."""
        return any(isinstance(e.frame, VADUserStartedSpeakingFrame) for e in self._entries)

    def replay(self, *, speaking: bool) -> list[tuple[Frame, FrameDirection]]:
        """Fresh copies of what is kept, in order, to queue into another STT. A VAD start
        older than the ring is put back in front (``speaking``: the caller is mid-utterance
        now) so a segmented STT buffers the audio that follows it."""
        copies = [(replace(e.frame), e.direction) for e in self._entries]
        first_vad = next(
            (
                f
                for f, _ in copies
                if isinstance(f, (VADUserStartedSpeakingFrame, VADUserStoppedSpeakingFrame))
            ),
            None,
        )
        if isinstance(first_vad, VADUserStoppedSpeakingFrame) or (first_vad is None and speaking):
            copies.insert(0, (VADUserStartedSpeakingFrame(), FrameDirection.UPSTREAM))
        return copies


class STTFailover(FailoverGroup):
    """The STT stage of a session: one ``ServiceSwitcher`` over the fallback STTs, with the
    audio ring and the budget after the caller stops (see the module docstring)."""

    stage: ClassVar[Stage] = "stt"

    def __init__(
        self,
        services: Sequence[FrameProcessor],
        providers: Sequence[STTProvider],
        policy: FailoverPolicy,
        *,
        preroll_secs: float = PREROLL_SECS,
    ) -> None:
        super().__init__(services, providers, policy)
        # A switch happens while the caller speaks, before the turn it belongs to begins (at
        # the turn's end, in the session's numbering): it is filed once that turn has begun.
        self.defer_records = True
        self.ring = AudioRing(preroll_secs=preroll_secs)
        self._speaking = False  # the VAD hears the caller
        self._stopped_at: float | None = None  # the caller stopped; an answer is owed
        self._watch: asyncio.Task[None] | None = None

    def stale(self, frame: Frame) -> bool:
        return isinstance(frame, (TranscriptionFrame, InterimTranscriptionFrame, MetricsFrame))

    @property
    def owes_transcript(self) -> bool:
        """Whether the caller stopped and the active STT has not answered yet."""
        return self._stopped_at is not None

    # ---- frames in -------------------------------------------------------------------------

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, InputAudioRawFrame) and direction == FrameDirection.DOWNSTREAM:
            self.ring.add(frame, direction)
            if not self._speaking and self._stopped_at is None:
                self.ring.keep(self.ring.preroll_secs)
        elif isinstance(frame, VADUserStartedSpeakingFrame) and not self._speaking:
            await self._caller_started()
            self.ring.add(frame, direction)
        elif isinstance(frame, VADUserStoppedSpeakingFrame) and self._speaking:
            self.ring.add(frame, direction)
            await self._caller_stopped()
        elif isinstance(frame, UserStoppedSpeakingFrame):
            self.new_turn()
            self.file_deferred()
        await super().process_frame(frame, direction)

    async def _caller_started(self) -> None:
        self._speaking = True
        await self._cancel_watch()
        if self._stopped_at is None:
            # Nothing is owed: a clean point to take back a member that has recovered,
            # with the lead-in replayed so it hears this utterance from its start.
            member = self.preferred_due()
            if member is not None and member.is_usable:
                await self._move(member, reason="recovered", detail="backoff over", failed=False)

    async def _caller_stopped(self) -> None:
        self._speaking = False
        self._stopped_at = time.monotonic()
        await self._start_watch()

    # ---- frames out ------------------------------------------------------------------------

    async def push_frame(
        self, frame: Frame, direction: FrameDirection = FrameDirection.DOWNSTREAM
    ) -> None:
        if not self.dropping(frame) and (
            isinstance(frame, TranscriptionFrame)
            or (self._stopped_at is not None and _finalized_nothing(frame))
        ):
            await self._answered()
        await super().push_frame(frame, direction)

    async def _answered(self) -> None:
        """The active STT gave a final transcript (or finalized nothing): what it heard so
        far needs no replay."""
        if self._speaking:
            self.ring.keep(KEEP_ON_FINAL_SECS)
        else:
            self.ring.clear()
        self._stopped_at = None
        await self._cancel_watch()
        self.recovered(self.active)

    # ---- failing over ----------------------------------------------------------------------

    async def member_failed(self, error: ErrorFrame) -> FrameProcessor | None:
        if not fails_over(error):
            return None
        return await self._fail_over(classify(error), describe(error))

    async def _fail_over(self, reason: Reason, detail: str) -> FrameProcessor | None:
        if not self.may_switch():
            logger.warning(
                f"voicebot failover: stt {self.label(self.active)} failed ({reason}) but this "
                "turn has switched enough; staying"
            )
            return None
        to = self.next_member()
        if to is None:
            logger.error(f"voicebot failover: stt {self.label(self.active)} failed, no STT left")
            return None
        await self._move(to, reason=reason, detail=detail, failed=True)
        return to

    async def _move(
        self, to: FrameProcessor, *, reason: Reason | str, detail: str, failed: bool
    ) -> None:
        """Replay the ring into ``to``, then make it the active STT. Nothing in between
        yields to the loop, so no live frame reaches ``to`` ahead of the replay."""
        owed = self._speaking or self._stopped_at is not None
        replay = self.ring.replay(speaking=self._speaking)
        for frame, direction in replay:
            self.mark(frame)  # its passthrough copy goes no further
            await to.queue_frame(frame, direction)
        after = time.monotonic() - self._stopped_at if self._stopped_at is not None else None
        await self.switch(
            to,
            reason=reason,
            detail=detail,
            after_secs=after,
            replayed=owed and self.ring.secs > 0,
            failed=failed,
        )
        if self._stopped_at is not None:
            await self._start_watch()

    async def _start_watch(self) -> None:
        await self._cancel_watch()
        service = self.active
        budget = self.policy.first_budget("stt", self.provider_of(service))
        self._watch = self.create_task(self._watch_answer(service, budget), "STTFailover::watch")

    async def _cancel_watch(self) -> None:
        watch, self._watch = self._watch, None
        if watch is not None and watch is not asyncio.current_task():
            await self.cancel_task(watch)

    async def _watch_answer(self, service: FrameProcessor, budget: float) -> None:
        await asyncio.sleep(budget)
        if self.active is service and self._stopped_at is not None:
            await self._fail_over(
                Reason.NO_FIRST, f"no transcript {budget:g}s after the caller stopped"
            )

    async def cleanup(self) -> None:
        await self._cancel_watch()
        self.file_deferred()  # the call ended mid-utterance: filed on the last turn
        await super().cleanup()  # type: ignore[no-untyped-call]  # Pipecat leaves it untyped


def _finalized_nothing(frame: Frame) -> bool:
    """The metrics an STT reports when it finalizes (a final with no words included)."""
    return isinstance(frame, MetricsFrame) and any(
        isinstance(d, (TTFBMetricsData, ProcessingMetricsData)) for d in frame.data
    )


class FallbackSTT(GroupOfProviders, STTProvider):
    """STT providers in order of preference; the next takes over, with the caller's audio
    since the last final transcript replayed into it, when one fails (module docstring)."""

    name: ClassVar[str] = "fallback"

    providers: tuple[STTProvider, ...]
    policy: FailoverPolicy | None = None

    @field_validator("providers", mode="before")
    @classmethod
    def _resolve(cls, value: object) -> tuple[STTProvider, ...]:
        return resolve_members(cls, "stt", value, STTProvider)  # type: ignore[return-value]

    def build(self, ctx: BuildContext) -> STTFailover:
        services = [p.build(ctx) for p in self.providers]
        return STTFailover(services, self.providers, self.policy or DEFAULT_POLICY)
