"""End-of-turn detection: the built-in ways to decide the user has finished speaking."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from voicebot.providers.base import BuildContext, TurnProvider

if TYPE_CHECKING:
    from pipecat.turns.user_turn_strategies import UserTurnStrategies


class TextCheck(BaseModel):
    """The words' opinion where smart-turn says "not yet" (``SmartTurn(text_check=...)``).

    At a VAD stop the audio model judged unfinished, a local LLM reads the transcript so far
    (``voicebot.providers.local.turn_text``): if the probability that the words end a
    sentence is at least ``threshold``, the turn ends ``wait_secs`` after the stop, unless
    the caller speaks again first, instead of at the fallback (``max_silence_secs``).
    Chosen on recorded prompts and spliced pauses (``python -m benchmarks.turn_text_check``,
    docs/offline.md, "The words' opinion on the turn's end"): 0.1 and 0.5 s.

    ``profile``: the local model to load when the bot's own LLM does not run in this
    process (a cloud LLM); with ``LlamaLLM`` the bot's model is shared and nothing loads.
    ``SmartTurn``'s default, ``"auto"``, checks only with the bot's own in-process model,
    and only the ``balanced`` one (the model the threshold was measured with).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: float = Field(default=0.1, gt=0, lt=1)
    wait_secs: float = Field(default=0.5, ge=0)
    profile: Literal["fast", "balanced", "quality"] = "balanced"


class SmartTurn(TurnProvider):
    """Pipecat's smart-turn v3 model (bundled ONNX) judges from the audio whether a pause ends
    the turn; ``max_silence_secs`` ends it anyway when the model keeps saying "not yet".

    Costs one model call (~80-240 ms on a slow 2-core CPU) per pause.

    ``max_silence_secs`` is 2.0 (Pipecat's is 3.0): on 85 real telephone sentences with
    pauses spliced in (``python -m benchmarks.turn_fallback``; rule chosen on a LibriVox dev
    set), a fallback down to 1.5 s cut off no more pauses of up to 1.5 s than 3.0 s did,
    and the 5 % of real ends the model misses wait that much less; 2.0 keeps a margin for
    longer hesitations, which that set did not have.

    ``threshold``: the model's probability above which a pause ends the turn (0.5, as
    Pipecat). Lower, fewer real ends wait for the fallback and more hesitations are cut
    off: at 0.3, 13.5 % -> 8.3 % of 348 recorded turn ends waited, and 38 % -> 45 % of
    spliced mid-sentence pauses were called complete (``python
    benchmarks/vad_stop_smart_turn.py``, docs/offline.md).

    ``early_secs``: how far into a pause the model is asked (None, the default: at the VAD's
    stop, as Pipecat does). The VAD calls the stop after 0.2 s of quiet; asked at 0.064,
    with room tone standing in for the quiet to come, the model's verdict is ready by the
    stop instead of ~0.05-0.3 s after it, which pays where the model is the wait (an STT
    that finalizes in tens of ms, or cores shared by many calls). A verdict within 0.2 of
    ``threshold``, or followed by sound before the stop, is asked again at the stop (2 of
    402 recorded stops got another verdict than the stop's alone); a pause the caller
    talks through costs one model call. Not the
    default: offline, Whisper is the wait and it gained nothing (caller p50 1.14 vs 1.11 s
    over four runs), and behind a cloud STT's 100-300 ms the model's time is hidden anyway
    (docs/offline.md, "The turn decision at the pause").

    ``text_check``: where the model says "not yet", the words may end the turn after a short
    wait instead of the fallback (``TextCheck``; "auto", the default: with the offline bot's
    own model; None: never). On 188 held-out recorded prompts, 28.7 % -> 24.5 % of real
    ends waited the fallback, cut-offs unchanged (docs/offline.md, "The words' opinion on
    the turn's end").
    """

    name: ClassVar[str] = "smart-turn"

    max_silence_secs: float = Field(default=2.0, gt=0, le=30)
    threshold: float = Field(default=0.5, gt=0, lt=1)
    early_secs: float | None = Field(default=None, gt=0)
    text_check: TextCheck | Literal["auto"] | None = "auto"

    def words_check(self, ctx: BuildContext) -> Any:
        """The call's words check (``turn_text.WordsEndTurn``) or None (see ``TextCheck``)."""
        check = TextCheck() if self.text_check == "auto" else self.text_check
        if check is None or (self.text_check == "auto" and ctx.in_process_llm is None):
            return None
        from loguru import logger

        from voicebot.providers.local.turn_text import WordsEndTurn, chatml, measured

        if ctx.in_process_llm is not None:
            loaded = ctx.in_process_llm()
        else:
            from voicebot.providers.local.llama import LlamaLLM

            loaded = LlamaLLM(profile=check.profile).loaded()
        if self.text_check == "auto" and not measured(loaded.path):
            logger.info(
                f"SmartTurn: no words check with {loaded.path.name} (measured with the "
                "balanced model only); text_check=TextCheck() turns it on"
            )
            return None
        if not chatml(loaded.llama):
            logger.warning("SmartTurn(text_check): the model has no ChatML template; no check")
            return None
        return WordsEndTurn(
            loaded,
            system_prompt=ctx.system_prompt or "",
            threshold=check.threshold,
            wait_secs=check.wait_secs,
        )

    def prepare(self) -> None:
        """Build the process's smart-turn session now, not when the first call starts."""
        from voicebot.providers.onnx_sessions import smart_turn_session

        smart_turn_session()

    def build(self, ctx: BuildContext) -> UserTurnStrategies:
        """The call's own analyzer on the process's one smart-turn session (onnx_sessions)."""
        from pipecat.audio.turn.smart_turn.base_smart_turn import SmartTurnParams
        from pipecat.turns.user_turn_strategies import UserTurnStrategies

        from voicebot.providers.onnx_sessions import smart_turn_analyzer
        from voicebot.providers.turn_strategies import SmartTurnStopStrategy

        analyzer = smart_turn_analyzer(
            SmartTurnParams(stop_secs=self.max_silence_secs), threshold=self.threshold
        )
        return UserTurnStrategies(
            start=self.start_strategies(ctx),
            stop=[
                SmartTurnStopStrategy(
                    turn_analyzer=analyzer,
                    early_secs=self.early_secs,
                    words=self.words_check(ctx),
                )
            ],
        )


class SilenceTurn(TurnProvider):
    """The turn ends after ``silence_secs`` of silence following the VAD's stop (and a
    transcript). Cheap and predictable; cuts off people who pause mid-sentence."""

    name: ClassVar[str] = "silence"

    silence_secs: float = Field(default=0.6, gt=0, le=30)

    def build(self, ctx: BuildContext) -> UserTurnStrategies:
        from pipecat.turns.user_stop import SpeechTimeoutUserTurnStopStrategy
        from pipecat.turns.user_turn_strategies import UserTurnStrategies

        return UserTurnStrategies(
            start=self.start_strategies(ctx),
            stop=[SpeechTimeoutUserTurnStopStrategy(user_speech_timeout=self.silence_secs)],
        )


class PunctuationTurn(TurnProvider):
    """The turn ends as soon as the transcript after a pause ends a sentence (``.``, ``?``,
    ``!``); otherwise after ``silence_secs``. STT models that punctuate (Whisper, Deepgram)
    mark a trailing comma or no mark at all on a half-said thought, so a pause mid-sentence
    waits while a finished question is answered at once. No model call: costs nothing."""

    name: ClassVar[str] = "punctuation"

    silence_secs: float = Field(default=0.8, gt=0, le=30)

    def build(self, ctx: BuildContext) -> UserTurnStrategies:
        from pipecat.turns.user_turn_strategies import UserTurnStrategies

        from voicebot.providers.turn_strategies import PunctuationUserTurnStopStrategy

        return UserTurnStrategies(
            start=self.start_strategies(ctx),
            stop=[PunctuationUserTurnStopStrategy(user_speech_timeout=self.silence_secs)],
        )
