"""Barge-in that stops the bot at once and lets backchannels ("mhm", "yeah", a cough) pass.

A caller who talks over the bot wants it silent within ~100 ms; a caller who says "mhm"
wants it to go on. The first sound cannot tell the two apart, so, as LiveKit's agents do
(``resume_false_interruption``), the bot **pauses** at the first sound and decides after:

1. The caller makes a voiced sound while the bot is speaking: the bot's audio is held
   (``OutputPause``: the output transport's next write waits; its queued audio stays
   queued). By default that is the first voiced chunk, or a sudden onset with a trace of
   voice (``BargeIn(pause_at="first_sound")``, ``first_sound_rise_db``; the session's
   ``OnsetWatch``), ~0.2 s before the VAD calls speech started; a sound the
   VAD does not go on to call speech lets the bot speak on (ruled "noise").
   ``pause_at="speech"`` waits for the VAD's call.
2. It is a barge-in when the speech lasts ``min_interrupt_secs``, or when its words (interim
   or final transcript) are anything but backchannel words. Then Pipecat's ordinary turn
   start runs (an ``InterruptionFrame`` clears the queued reply), and the held audio is
   dropped once that interruption has passed the output transport.
3. Otherwise, when the speech stops, its transcript is awaited for ``transcript_wait_secs``:
   backchannel words, no words at all (a cough, a knock) or no transcript in time, and the
   held audio plays on from where it stopped. The words go out as Pipecat's
   ``UserBackchannelFrame`` (the user aggregator's ``on_user_backchannel`` event) instead of
   a transcript, so they never reach the model.

While the bot is not speaking the strategy starts turns as Pipecat's default pair does (VAD
speech, or a transcript the VAD missed). Only Pipecat's public API is used: a turn-start
strategy, the output transport's ``write_audio_frame`` method (wrapped on the instance), and
frames. Heard-text truth stays right because the heard-text stage counts audio as the
transport writes it, and held audio is not written. Known limit: with a TTS that sends word
timestamps the transport's clock releases words by time, so words due during a pause that
ends in a barge-in count as heard (at most ``min_interrupt_secs`` of them).
"""

from __future__ import annotations

import asyncio
from typing import Any

from loguru import logger
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Frame,
    InterimTranscriptionFrame,
    TranscriptionFrame,
    UserBackchannelFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.turns.types import ProcessFrameResult
from pipecat.turns.user_start import (
    BaseUserTurnStartStrategy,
    TranscriptionUserTurnStartStrategy,
    VADUserTurnStartStrategy,
)
from pipecat.utils.time import time_now_iso8601

from voicebot.conversation.output_pause import OutputPause
from voicebot.conversation.pauses import OnsetWatch
from voicebot.session_control import DEFAULT_STT_HINT, BargeIn


class BargeInTurnStart(BaseUserTurnStartStrategy):
    """Pipecat turn-start strategy for ``BargeIn`` (replaces the default VAD + transcript pair).

    Each ruling is appended to the pause's ``decisions`` (``Session.barge_in``).
    """

    def __init__(self, policy: BargeIn, pause: OutputPause, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._policy = policy
        self._pause = pause
        self._bot_speaking = False
        self._pending = False  # speech over the bot, not ruled on yet
        self._speaking = False  # the VAD hears the caller now
        self._heard = ""  # words transcribed of the pending speech
        self._spoken = 0.0  # seconds of it, in finished stretches
        self._stretch_start = 0.0  # when the stretch being spoken began (loop clock)
        self._stop_secs = 0.2  # the VAD's stop_secs, as its last stop frame said
        self._last_stop: VADUserStoppedSpeakingFrame | None = None
        self._timer: asyncio.Task | None = None
        self._sounding = False  # paused at a first sound the VAD has not called speech yet
        self._sound_timer: asyncio.Task | None = None
        self._faded = 0  # first sounds that faded while the bot spoke

    # ---- OnsetWatch's listener (BargeIn(pause_at="first_sound")) ----

    #: First sounds that may fade during one stretch of the bot's speech (from its
    #: BotStartedSpeakingFrame) before the rest of it waits for the VAD's call: a line with a
    #: noise or an echo the model scores as voice would otherwise make the bot stutter
    #: (pause, speak on, pause) for as long as it lasts.
    MAX_FADED_PER_REPLY = 2
    #: A first-sound pause ends by itself after this long without the VAD's call or a fade
    #: (the caller's audio stopped reaching the VAD: muted mid-sound, a stalled stream).
    #: Over the VAD's start wait (0.2 s) + OnsetWatch's grace (0.25 s), with room.
    FIRST_SOUND_MAX_SECS = 1.0

    def caller_sounded(self) -> None:
        if self._faded >= self.MAX_FADED_PER_REPLY:
            return
        if self._bot_speaking and not self._pending and not self._sounding:
            self._sounding = True
            self._pause.hold()
            self._sound_timer = self.create_task(self._sound_expires(), "barge_in_sound")

    def caller_faded(self) -> None:
        if self._sounding and not self._pending:
            self._faded += 1
            self._end_sound()
            self.create_task(self._fade(), "barge_in_faded")

    async def _fade(self) -> None:
        if not self._pending:  # unless the VAD called speech meanwhile: that ruling stands
            await self._resume("noise")

    async def _sound_expires(self) -> None:
        await asyncio.sleep(self.FIRST_SOUND_MAX_SECS)
        self._sound_timer = None
        if self._sounding and not self._pending:
            self._faded += 1
            logger.debug(f"{self}: a first sound neither faded nor became speech; speaking on")
            await self._resume("noise")

    def _end_sound(self) -> None:
        self._sounding = False
        timer, self._sound_timer = self._sound_timer, None
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()

    async def handle_user_turn_started(self) -> None:
        if self._sounding:  # a turn started some other way: its interruption clears the reply
            self._rule("barge_in")
            self._pause.drop()
        await self._settle()

    async def cleanup(self) -> None:
        await self._settle()
        await super().cleanup()

    async def process_frame(self, frame: Frame) -> ProcessFrameResult:
        if isinstance(frame, BotStartedSpeakingFrame):
            self._bot_speaking = True
            self._faded = 0
        elif isinstance(frame, BotStoppedSpeakingFrame):
            self._bot_speaking = False
            if self._pending:  # nothing left to pause: an ordinary turn start
                return await self._barge_in()
            if self._sounding:  # nothing to hold any more
                await self._resume("noise")
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            self._speaking = True
            self._end_sound()  # the VAD called it: ruled on below
            self._stretch_start = _now() - frame.start_secs
            if not (self._pending or self._bot_speaking):
                return await self._start()
            if not self._pending:
                self._pending, self._heard, self._spoken = True, "", 0.0
                self._pause.hold()
            # Still speaking once min_interrupt_secs are spoken and the VAD's stop wait has
            # passed: long speech, a barge-in whatever its words.
            left = self._policy.min_interrupt_secs - self._spoken
            self._arm(self._stretch_start + left + self._stop_secs - _now())
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            self._speaking = False
            self._stop_secs = frame.stop_secs
            self._last_stop = frame
            if self._pending:
                self._spoken += _now() - frame.stop_secs - self._stretch_start
                if self._spoken >= self._policy.min_interrupt_secs:
                    return await self._barge_in()
                self._arm(self._policy.transcript_wait_secs)
        elif isinstance(frame, (TranscriptionFrame, InterimTranscriptionFrame)):
            return await self._transcript(frame)
        return ProcessFrameResult.CONTINUE

    async def _transcript(self, frame: TranscriptionFrame | InterimTranscriptionFrame):
        final = isinstance(frame, TranscriptionFrame)
        if not frame.text.strip():
            if final and self._pending and not (self._speaking or self._heard):
                await self._resume("noise")  # the STT heard no words in it
            return ProcessFrameResult.CONTINUE
        if not (self._pending or self._bot_speaking):
            # A transcript the VAD missed, as TranscriptionUserTurnStartStrategy does.
            return await self._start() if final else ProcessFrameResult.CONTINUE
        text = f"{self._heard} {frame.text}".strip() if final else frame.text
        policy = self._policy
        # A repeat Whisper made ("Got it. Got") is read within one transcript, never across
        # two stretches of speech ("I see." then "I").
        backchannel = policy.is_backchannel(text) or (
            final
            and policy.is_heard_backchannel(frame.text)
            and (not self._heard or policy.is_backchannel(self._heard))
        )
        if not backchannel:
            if final or not self._policy.may_become_backchannel(text):
                return await self._barge_in(text)
            return ProcessFrameResult.CONTINUE  # "uh" may still become "uh huh"
        if final:
            self._heard = text
            await self.trigger_reset_aggregation()  # keep it out of the next user turn
            await self.push_frame(
                UserBackchannelFrame(text=text, user_id=frame.user_id, timestamp=time_now_iso8601())
            )
            if self._pending and not self._speaking:
                await self._resume("backchannel")
        return ProcessFrameResult.CONTINUE

    def _arm(self, secs: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.create_task(self._expire(secs), "barge_in")

    async def _expire(self, secs: float) -> None:
        await asyncio.sleep(max(0.0, secs))
        self._timer = None
        if not self._pending:
            return
        if self._speaking:  # spoke past min_interrupt_secs
            await self._barge_in()
        else:  # stopped, and no words came (or only backchannel words)
            await self._resume("backchannel" if self._heard else "noise")

    def _rule(self, why: str, words: str | None = None) -> None:
        """Record a ruling and the words it was made on (default: the pending speech's)."""
        self._pause.decisions.append(why)
        if words is None:
            words = self._heard if self._pending else ""
        self._pause.heard.append(words)

    async def _resume(self, why: str) -> None:
        self._rule(why)
        await self._settle()
        await self._pause.resume()
        logger.debug(f"{self}: {why}, the bot speaks on")

    async def _barge_in(self, words: str | None = None) -> ProcessFrameResult:
        self._rule("barge_in", words)
        self._pause.drop()
        await self._settle()
        result = await self._start()
        if not self._speaking and self._last_stop is not None:
            # Ruled on after the caller stopped: the turn's stop strategies were armed by
            # this start and have not seen that stop. Give them the same stop (same
            # timestamp, so the records time the turn from when the caller really stopped).
            stop = self._last_stop
            await self.push_frame(
                VADUserStoppedSpeakingFrame(stop_secs=stop.stop_secs, timestamp=stop.timestamp)
            )
        return result

    async def _start(self) -> ProcessFrameResult:
        await self.trigger_user_turn_started()
        return ProcessFrameResult.STOP

    async def _settle(self) -> None:
        self._pending = False
        self._end_sound()
        timer, self._timer = self._timer, None
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()


def _now() -> float:
    """The event loop's clock: the VAD's frames are ruled on as they arrive, and a test's
    virtual clock moves this one (not ``time.time``)."""
    return asyncio.get_running_loop().time()


def barge_in_pause(bot: Any, strategies: Any, vad: Any = None) -> OutputPause | None:
    """Put ``bot.barge_in``'s strategy in place of Pipecat's default turn-start pair (VAD,
    transcript) in this session's ``strategies``, and return the pause it rules; None (and
    ``strategies`` untouched) when the bot interrupts at once (``barge_in=None``), cannot
    be interrupted, or its turn provider starts turns by rules of its own. With
    ``pause_at="first_sound"`` the session's VAD analyzer ``vad`` tells it of first sounds."""
    start = list(strategies.start or [])
    kinds = {type(s) for s in start}
    if bot.barge_in is None or not bot.allow_interruptions:
        return None
    if kinds != {VADUserTurnStartStrategy, TranscriptionUserTurnStartStrategy}:
        return None
    pause = OutputPause()
    strategy = BargeInTurnStart(bot.barge_in, pause)
    strategies.start = [strategy]
    if bot.barge_in.pause_at == "first_sound" and vad is not None:
        OnsetWatch(
            strategy,
            confidence=bot.barge_in.first_sound_confidence,
            rise_db=bot.barge_in.first_sound_rise_db,
        ).attach(vad)
    return pause


def hint_backchannels(bot: Any, stt: Any, conversation: Any) -> bool:
    """Tell ``stt`` to expect ``bot.barge_in``'s backchannel words in speech that starts
    while the bot speaks (``conversation.bot_speaking``, the session's one record of it),
    if the bot rules on such speech, asks for the hint (``BargeIn.hint_stt``) and the STT
    takes one (``expect_over_bot``: the offline Whisper, alone or in a failover group).
    Returns whether it was told."""
    policy = bot.barge_in
    if policy is None or not policy.hint_stt or not bot.allow_interruptions:
        return False
    # A failover group's members each take it (voicebot.failover.group.FailoverGroup).
    takers = [
        expect
        for member in getattr(stt, "members", [stt])
        if (expect := getattr(member, "expect_over_bot", None)) is not None
    ]
    # The default hint is English; a hint of the bot's own is taken in any language.
    language = "en" if policy.hint_stt == DEFAULT_STT_HINT else None
    for expect in takers:
        expect(policy.hint_stt, lambda: conversation.bot_speaking, language=language)
    return bool(takers)
