"""``tts=[CartesiaTTS(), PiperTTS()]``: a voice that fails over mid-reply without repeating or
dropping words.

LiveKit's TTS fallback replays a segment's text only if no audio went out, and abandons the
segment otherwise; Pipecat's switcher replays nothing. Here the group keeps a
``SpeechLedger`` of what its active TTS was given and how much of it came back as audio, and
when that TTS fails it gives the next one exactly what is still unsaid: the clauses with no
audio, and the rest of the clause in progress (``voicebot.failover.speech`` says how the
split is made, from word timestamps or from the heard-text rule). What the failed TTS had
already made plays on, its words go to the context as heard, and whatever it pushes after
the switch (its context timing out, its ``force_complete`` text for words it never spoke)
is dropped, so the context holds what the caller heard.

A TTS fails when it reports a vendor error, or when it owes audio and none comes for the
policy's budget (``tts_first_byte_secs`` for the first audio of what it owes, a local TTS
``tts_local_first_byte_secs``; ``tts_stall_secs`` once audio flowed). A failed member is
taken back at the start of a later utterance once its backoff has run out (a Cartesia that
gave up is made usable again first: it reconnects on its next request).

When no member can take over, the caller hears the apology clip
(``voicebot.failover.apology``) instead of silence, and the context holds its words: that is
also how the LLM group's spoken apology reaches a caller whose every voice is down.

Every member speaks at the bot's output rate (each member's ``check`` refuses another
``sample_rate`` with the fix), so the audio of two members joins without resampling.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from typing import ClassVar

from loguru import logger
from pipecat.frames.frames import (
    AggregatedTextFrame,
    AggregatedTextProgressFrame,
    ErrorFrame,
    Frame,
    InterruptionFrame,
    LLMAssistantPushAggregationFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    TextFrame,
    TTSAudioRawFrame,
    TTSSpeakFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.utils.text.base_text_aggregator import TextType
from pydantic import field_validator

from voicebot.failover.apology import APOLOGY_TEXT, apology_audio
from voicebot.failover.group import FailoverGroup
from voicebot.failover.members import GroupOfProviders, resolve_members
from voicebot.failover.policy import (
    DEFAULT_POLICY,
    FailoverEvent,
    FailoverPolicy,
    Reason,
    Stage,
    classify,
    describe,
    fails_over,
)
from voicebot.failover.speech import Marker, SpeechLedger
from voicebot.providers.base import BuildContext, TTSProvider

#: What a TTS pushes for what it speaks: from a member that is not active, dropped.
_SPEECH_FRAMES = (
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TextFrame,  # announcements and the words spoken
    AggregatedTextProgressFrame,
    LLMFullResponseStartFrame,
    LLMFullResponseEndFrame,
    LLMAssistantPushAggregationFrame,
)
_CLIP_CHUNK_SECS = 0.04
DEFAULT_SAMPLE_RATE = 24000


class TTSFailover(FailoverGroup):
    """The TTS stage of a session: one ``ServiceSwitcher`` over the fallback TTSs, with the
    ledger of what the active one owes (see the module docstring)."""

    stage: ClassVar[Stage] = "tts"

    def __init__(
        self,
        services: Sequence[FrameProcessor],
        providers: Sequence[TTSProvider],
        policy: FailoverPolicy,
    ) -> None:
        super().__init__(services, providers, policy)
        self.ledger = SpeechLedger()
        self._last_progress = time.monotonic()
        self._watch: asyncio.Task[None] | None = None
        self._apologized = False  # the reply in progress got the clip; ignore the rest of it
        self._forced: set[int] = set()  # segments whose force-completed text is dropped

    def stale(self, frame: Frame) -> bool:
        return isinstance(frame, _SPEECH_FRAMES)

    # ---- frames in -------------------------------------------------------------------------

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        if direction == FrameDirection.DOWNSTREAM:
            await self._given(frame)
        await super().process_frame(frame, direction)

    async def _given(self, frame: Frame) -> None:
        if isinstance(frame, InterruptionFrame):
            self.ledger.clear()  # the caller spoke: nothing is owed any more
            self._apologized = False
            return
        if isinstance(frame, UserStoppedSpeakingFrame):
            self.new_turn()
            return
        starts = isinstance(frame, TTSSpeakFrame) or (
            isinstance(frame, LLMFullResponseStartFrame) and not frame.skip_tts
        )
        if starts and not self.ledger.items:
            # Nothing owed: a clean point to give a failed member another try.
            self.muted = None
            self._apologized = False
            await self._take_back()
        if self._apologized:
            if isinstance(frame, LLMFullResponseEndFrame):
                self._apologized = False
            return
        was_owed = self.ledger.owed() is not None
        if self.ledger.sent(frame) is not None and not was_owed:
            self._last_progress = time.monotonic()
            self._arm()

    async def _take_back(self) -> None:
        member = self.preferred_due()
        if member is None:
            return
        if not member.is_usable:
            await member.set_usable(True)  # a TTS reconnects on its next request
        await self.switch(member, reason="recovered", detail="backoff over")

    # ---- frames out ------------------------------------------------------------------------

    async def push_frame(
        self, frame: Frame, direction: FrameDirection = FrameDirection.DOWNSTREAM
    ) -> None:
        if direction == FrameDirection.DOWNSTREAM and not self.dropping(frame):
            if await self._unspoken(frame):
                return
            if self.ledger.came_out(frame):
                self._last_progress = time.monotonic()
                if isinstance(frame, TTSAudioRawFrame):
                    self.recovered(self.active)
        await super().push_frame(frame, direction)

    async def _unspoken(self, frame: Frame) -> bool:
        """Whether ``frame`` reports words the active TTS never voiced (its context closed
        under it: ``SpeechLedger.unvoiced``): it and its progress frame are dropped, and the
        TTS is failed over so the next one says those words."""
        if isinstance(frame, AggregatedTextProgressFrame):
            return frame.segment_id in self._forced
        if not isinstance(frame, TTSTextFrame) or not self.ledger.unvoiced(frame):
            return False
        if frame.segment_id is not None:
            self._forced.add(frame.segment_id)
        # Now, before the TTS pushes the end of the reply: what is owed is still on record.
        await self._fail_over(Reason.DROPPED, f"closed with {frame.text!r} unspoken")
        return True

    # ---- failing over ----------------------------------------------------------------------

    async def member_failed(self, error: ErrorFrame) -> FrameProcessor | None:
        if not fails_over(error):
            return None
        return await self._fail_over(classify(error), describe(error))

    async def _fail_over(self, reason: Reason, detail: str) -> FrameProcessor | None:
        owed = self.ledger.owed()
        to = self.next_member() if self.may_switch() else None
        if to is None:
            if owed is not None:
                await self._apologize(reason, detail)
            else:
                logger.error(f"voicebot failover: tts {self.label(self.active)} failed ({detail})")
            return None
        frames, heard = self.ledger.replay()
        for text in heard:  # audio the failed TTS made but will not report
            await self.push_frame(text)
        lead: list[Frame] = []
        if self.ledger.reply_open and frames:
            start = LLMFullResponseStartFrame()  # groups the rest into one reply there
            self.mark(start)  # downstream already saw this reply start
            lead.append(start)
        self.ledger.restart(frames)
        for frame in (*lead, *frames):
            await to.queue_frame(frame)
        after = time.monotonic() - owed.sent_at if owed is not None else None
        await self.switch(
            to,
            reason=reason,
            detail=detail,
            after_secs=after,
            replayed=any(isinstance(f, (AggregatedTextFrame, TTSSpeakFrame)) for f in frames),
            failed=True,
        )
        self._last_progress = time.monotonic()
        self._arm()
        return to

    def _arm(self) -> None:
        if self._watch is None or self._watch.done():
            self._watch = self.create_task(self._watch_audio(), "TTSFailover::watch")

    async def _watch_audio(self) -> None:
        """Fail the active TTS over when it owes audio and none comes within the budget."""
        while (owed := self.ledger.owed()) is not None and not self._apologized:
            voiced = self.ledger.voiced
            budget = (
                self.policy.stall_budget("tts")
                if voiced
                else self.policy.first_budget("tts", self.provider_of(self.active))
            )
            wait = self._last_progress + budget - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            what = "no more audio" if voiced else f"no audio for {owed.text[:40]!r}"
            await self._fail_over(
                Reason.STALL if voiced else Reason.NO_FIRST, f"{what} in {budget:g}s"
            )

    # ---- when no voice is left -------------------------------------------------------------

    async def _apologize(self, reason: Reason, detail: str) -> None:
        """No member can speak what is owed: the caller hears the apology clip instead, the
        context holds its words, and the failed member's leftovers are dropped."""
        failed = self.active
        in_reply = self.ledger.reply_open or any(
            isinstance(i, Marker) and isinstance(i.frame, LLMFullResponseStartFrame)
            for i in self.ledger.items
        )
        end_given = any(
            isinstance(i, Marker) and isinstance(i.frame, LLMFullResponseEndFrame)
            for i in self.ledger.items
        )
        # Every member speaks at the bot's output rate (their checks see to it).
        frames = clip_frames(getattr(failed, "sample_rate", 0) or DEFAULT_SAMPLE_RATE)
        if in_reply:
            if not self.ledger.reply_open:
                frames.insert(0, LLMFullResponseStartFrame())
            frames.append(LLMFullResponseEndFrame())
            self._apologized = not end_given  # the rest of this reply is not spoken
        else:
            frames.append(LLMAssistantPushAggregationFrame())
        self.muted = failed
        self.ledger.clear()
        self.record(
            FailoverEvent(
                stage="tts",
                from_provider=self.label(failed),
                to_provider="apology",
                reason=str(reason),
                detail=detail,
            )
        )
        for frame in frames:
            await self.push_frame(frame)

    async def cleanup(self) -> None:
        if self._watch is not None:
            await self.cancel_task(self._watch)
            self._watch = None
        await super().cleanup()  # type: ignore[no-untyped-call]  # Pipecat leaves it untyped


def clip_frames(sample_rate: int) -> list[Frame]:
    """The apology clip as a TTS would push it: started, announced, audio, words, stopped."""
    context_id = f"apology-{uuid.uuid4()}"
    announce = AggregatedTextFrame(APOLOGY_TEXT, TextType.SENTENCE)
    announce.will_be_spoken = True
    announce.append_to_context = False
    announce.context_id = context_id
    words = TTSTextFrame(APOLOGY_TEXT, text_type=TextType.SENTENCE, segment_id=announce.id)
    words.context_id = context_id
    audio = apology_audio(sample_rate)
    step = int(sample_rate * _CLIP_CHUNK_SECS) * 2
    chunks = [
        TTSAudioRawFrame(audio[i : i + step], sample_rate, 1, context_id=context_id)
        for i in range(0, len(audio), step)
    ]
    return [
        TTSStartedFrame(context_id=context_id),
        announce,
        *chunks,
        words,
        TTSStoppedFrame(context_id=context_id),
    ]


class FallbackTTS(GroupOfProviders, TTSProvider):
    """TTS providers in order of preference; the next takes over, saying what the failed one
    left unsaid, when one fails; the apology clip when none can (module docstring)."""

    name: ClassVar[str] = "fallback"

    providers: tuple[TTSProvider, ...]
    policy: FailoverPolicy | None = None

    @field_validator("providers", mode="before")
    @classmethod
    def _resolve(cls, value: object) -> tuple[TTSProvider, ...]:
        return resolve_members(cls, "tts", value, TTSProvider)  # type: ignore[return-value]

    def build(self, ctx: BuildContext) -> TTSFailover:
        services = [p.build(ctx) for p in self.providers]
        return TTSFailover(services, self.providers, self.policy or DEFAULT_POLICY)
