"""Offline STT: Whisper (faster-whisper / CTranslate2) on the CPU, from a bundled model.

Pipecat's ``WhisperSTTService`` runs ``WhisperModel.transcribe``, which pads every utterance
to Whisper's 30-second window before the encoder: 0.5-0.6 s per call on a slow 2-core CPU,
however short the utterance. Here the encoder sees the utterance plus ``tail_secs`` of
silence instead, and the decoder is bounded by the audio's length (so it cannot loop):
~30-80 ms per utterance on the same CPU. The transcript arrives within a few tens of ms of
the end of speech, which is as good as transcribing while the user speaks.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from loguru import logger
from pipecat.frames.frames import ErrorFrame, Frame, TranscriptionFrame
from pipecat.services.settings import STTSettings
from pipecat.services.stt_service import SegmentedSTTService
from pipecat.transcriptions.language import Language
from pipecat.utils.time import time_now_iso8601
from pydantic import Field

from voicebot.providers.base import BuildContext, STTProvider
from voicebot.providers.local.models import load_once, whisper_model_dir

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class Transcript:
    text: str
    no_speech_prob: float


class WhisperTranscriber:
    """One loaded Whisper model, transcribing short utterances without 30-s padding."""

    def __init__(self, model_dir: Path, *, threads: int, language: str = "en") -> None:
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer

        self.model = WhisperModel(
            str(model_dir), device="cpu", compute_type="int8", cpu_threads=threads
        )
        self._tokenizer = Tokenizer(
            self.model.hf_tokenizer,
            self.model.model.is_multilingual,
            task="transcribe",
            language=language,
        )
        self._prompt = [*self._tokenizer.sot_sequence, self._tokenizer.no_timestamps]

    def transcribe(self, audio: np.ndarray, *, tail_secs: float = 1.0) -> Transcript:
        """``audio``: float32 mono at 16 kHz, one utterance."""
        padded = np.concatenate([audio, np.zeros(int(tail_secs * SAMPLE_RATE), np.float32)])
        features = self.model.feature_extractor(padded, padding=0)
        encoded = self.model.encode(features)
        # Speech runs at ~3-4 tokens/s: 6/s plus slack bounds any repetition loop, and a
        # light repetition penalty with no repeated trigrams stops the short-window loops
        # ("10 of clubs 10 of clubs"). Tuned on 10 recorded utterances: WER 9.8 % against
        # 12.0 % for the padded 30-s window (benchmarks/offline_latency.py has the clips).
        max_length = len(self._prompt) + int(len(audio) / SAMPLE_RATE * 6) + 6
        result = self.model.model.generate(
            encoded,
            [self._prompt],
            beam_size=1,
            max_length=max_length,
            repetition_penalty=1.1,
            no_repeat_ngram_size=3,
            return_no_speech_prob=True,
        )[0]
        eot = self._tokenizer.eot
        text = self._tokenizer.decode([t for t in result.sequences_ids[0] if t < eot])
        return Transcript(text.strip(), float(result.no_speech_prob))


class LocalWhisperSTTService(SegmentedSTTService):
    """Pipecat segmented STT: VAD cuts the utterance, Whisper transcribes it when it ends."""

    def __init__(
        self,
        transcriber: WhisperTranscriber,
        *,
        no_speech_threshold: float = 0.6,
        tail_secs: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            settings=STTSettings(model="whisper-tiny.en", language="en"),
            trailing_silence_secs=0.0,
            ttfs_p99_latency=0.15,
            **kwargs,
        )
        self._transcriber = transcriber
        self._no_speech_threshold = no_speech_threshold
        self._tail_secs = tail_secs

    @property
    def wants_wav_segments(self) -> bool:
        return False

    def can_generate_metrics(self) -> bool:
        return True

    async def run_stt(self, audio: bytes) -> AsyncGenerator[Frame, None]:
        if self.sample_rate != SAMPLE_RATE:
            yield ErrorFrame(f"Whisper needs 16000 Hz audio, got {self.sample_rate} Hz")
            return
        samples = np.frombuffer(audio, dtype=np.int16).astype(np.float32) / 32768.0
        await self.start_processing_metrics()
        try:
            result = await asyncio.to_thread(
                self._transcriber.transcribe, samples, tail_secs=self._tail_secs
            )
        except Exception as e:  # a broken utterance must not end the call
            logger.opt(exception=e).error(f"{self}: transcription failed: {e}")
            yield ErrorFrame(f"transcription failed: {e}")
            return
        finally:
            await self.stop_processing_metrics()
        if not result.text or result.no_speech_prob > self._no_speech_threshold:
            logger.debug(f"{self}: no speech ({result.no_speech_prob:.2f}) {result.text!r}")
            return
        logger.debug(f"{self}: transcript {result.text!r}")
        yield TranscriptionFrame(result.text, self._user_id, time_now_iso8601(), Language.EN)


class WhisperSTT(STTProvider):
    """Offline Whisper tiny.en; ``model_dir`` swaps in any CTranslate2 Whisper model folder."""

    name: ClassVar[str] = "whisper"
    extra: ClassVar[str | None] = "local"
    requires: ClassVar[tuple[str, ...]] = ("faster_whisper", "ctranslate2")

    model_dir: Path | None = None
    threads: int = Field(default=2, ge=1)
    no_speech_threshold: float = Field(default=0.6, ge=0, le=1)

    def check(self, ctx: BuildContext) -> None:
        super().check(ctx)
        if self.model_dir is None:
            whisper_model_dir()
        elif not (self.model_dir / "model.bin").is_file():
            from voicebot.errors import ConfigError

            raise ConfigError(f"WhisperSTT(model_dir={self.model_dir}): no model.bin there")
        if ctx.audio_in_sample_rate != SAMPLE_RATE:
            from voicebot.errors import SampleRateError

            raise SampleRateError(
                f"WhisperSTT needs 16000 Hz input, but the bot's input sample rate is "
                f"{ctx.audio_in_sample_rate} Hz: set Bot(sample_rate_in=16000)"
            )

    def transcriber(self) -> WhisperTranscriber:
        model_dir = self.model_dir or whisper_model_dir()
        return load_once(
            f"whisper:{model_dir}:{self.threads}",
            f"Whisper model ({model_dir.name if self.model_dir else 'tiny.en'})",
            lambda: WhisperTranscriber(model_dir, threads=self.threads),
        )

    def prepare(self) -> None:
        self.transcriber()

    def build(self, ctx: BuildContext) -> LocalWhisperSTTService:
        return LocalWhisperSTTService(
            self.transcriber(), no_speech_threshold=self.no_speech_threshold
        )
