"""Offline TTS: a Piper voice (ONNX) on the CPU, from a bundled voice package.

The voice loads once per process (Pipecat's ``PiperTTSService`` loads it per service, and
downloads it if missing); its ONNX session gets a fixed thread count so it does not fight
the LLM for both cores while they stream side by side. Piper opens every utterance with a
few tens of ms of near-silence; a reply's first piece is what the caller waits for, so its
opening silence is cut to ``LEAD_KEEP_SECS`` (later pieces keep theirs: the pauses between
clauses).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from loguru import logger
from pipecat.frames.frames import ErrorFrame, Frame
from pipecat.services.settings import TTSSettings
from pipecat.services.tts_service import TTSService
from pydantic import Field

from voicebot.errors import ConfigError
from voicebot.pipecat_compat import stream_audio_frames
from voicebot.providers.base import BuildContext, TTSProvider
from voicebot.providers.local.models import load_once, piper_voice_dir

DEFAULT_VOICE = "en_US-joe-medium"

#: A reply's first audio starts this long before its first sample louder than
#: ``SILENT_LEVEL`` (of 32767): a click-free onset, not Piper's lead-in (29-65 ms on 11 of
#: 12 first pieces measured; docs/offline.md, "Piper's lead-in").
LEAD_KEEP_SECS = 0.005
SILENT_LEVEL = 100
MAX_DUE = 8  # turn contexts remembered as waiting for their first piece


def has_sound(pcm: bytes) -> bool:
    samples = np.frombuffer(pcm, dtype="<i2")
    return bool(samples.size) and int(np.abs(samples.astype(np.int32)).max()) > SILENT_LEVEL


def trim_lead(pcm: bytes, sample_rate: int) -> bytes:
    """16-bit mono ``pcm`` less its opening near-silence, keeping ``LEAD_KEEP_SECS`` of it;
    all of it when nothing in it is louder (a silent piece is not cut to nothing)."""
    samples = np.frombuffer(pcm, dtype="<i2")
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > SILENT_LEVEL)
    if loud.size == 0:
        return pcm
    start = max(0, int(loud[0]) - int(LEAD_KEEP_SECS * sample_rate))
    return pcm[2 * start :]


def load_piper_voice(model: Path, *, threads: int) -> Any:
    import onnxruntime
    from piper import PiperVoice
    from piper.config import PiperConfig

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    config = json.loads(Path(f"{model}.json").read_text(encoding="utf-8"))
    return PiperVoice(
        config=PiperConfig.from_dict(config),
        session=onnxruntime.InferenceSession(
            str(model), sess_options=options, providers=["CPUExecutionProvider"]
        ),
    )


class LocalPiperTTSService(TTSService):
    """Pipecat TTS service: each piece of text is synthesized by Piper in a worker thread.

    The pieces are clauses when the service runs in a voicebot session: the session cuts the
    LLM's text with ``ClauseTextAggregator`` before any TTS (``voicebot.text.clauses``).
    """

    def __init__(self, voice: Any, *, voice_name: str, **kwargs: Any) -> None:
        super().__init__(
            push_start_frame=True,
            push_stop_frames=True,
            settings=TTSSettings(model="piper", voice=voice_name, language="en"),
            **kwargs,
        )
        self._voice = voice
        # Turn contexts (an LLM reply, a TTSSpeakFrame) whose first piece is still to come:
        # that piece's lead-in is cut. Pipecat hands run_tts the turn's context id.
        self._first_piece_due: list[str] = []

    def can_generate_metrics(self) -> bool:
        return True

    async def on_turn_context_created(self, context_id: str) -> None:
        await super().on_turn_context_created(context_id)
        # A few recent ones: a reply that spoke nothing (a tool call) leaves its id behind.
        self._first_piece_due = [*self._first_piece_due[-(MAX_DUE - 1) :], context_id]

    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame, None]:
        voice = self._voice
        trim = context_id in self._first_piece_due
        if trim:
            self._first_piece_due.remove(context_id)
        rate = voice.config.sample_rate

        async def chunks() -> AsyncIterator[bytes]:
            iterator = iter(voice.synthesize(text))
            leading = trim  # until the first chunk with a sound in it
            while (chunk := await asyncio.to_thread(next, iterator, None)) is not None:
                audio = chunk.audio_int16_bytes
                if leading:
                    audio = trim_lead(audio, rate)
                    leading = not has_sound(audio)
                yield audio

        try:
            await self.start_tts_usage_metrics(text)
            async for frame in stream_audio_frames(
                self, chunks(), in_sample_rate=voice.config.sample_rate, context_id=context_id
            ):
                await self.stop_ttfb_metrics()
                yield frame
        except Exception as e:  # one bad sentence must not end the call
            logger.opt(exception=e).error(f"{self}: synthesis failed for {text!r}: {e}")
            yield ErrorFrame(f"speech synthesis failed: {e}")
        finally:
            await self.stop_ttfb_metrics()


class PiperTTS(TTSProvider):
    """Offline Piper voice (en_US-joe-medium, 22.05 kHz); ``model`` for any Piper .onnx
    voice (its .onnx.json beside it)."""

    name: ClassVar[str] = "piper"
    extra: ClassVar[str | None] = "local"
    requires: ClassVar[tuple[str, ...]] = ("piper", "onnxruntime")

    model: Path | None = None
    threads: int = Field(default=1, ge=1)

    def _model_path(self) -> Path:
        return self.model or piper_voice_dir() / f"{DEFAULT_VOICE}.onnx"

    def runs_in_process(self) -> bool:
        return True  # small next to the LLM, so no cores_per_call, but local all the same

    def check(self, ctx: BuildContext) -> None:
        super().check(ctx)
        path = self._model_path()
        if not path.is_file() or not Path(f"{path}.json").is_file():
            raise ConfigError(f"PiperTTS(model={path}): needs {path.name} and {path.name}.json")

    def voice(self) -> Any:
        path = self._model_path()
        return load_once(
            f"piper:{path}:{self.threads}",
            f"Piper voice {path.stem}",
            lambda: load_piper_voice(path, threads=self.threads),
        )

    def prepare(self) -> None:
        self.voice()

    def build(self, ctx: BuildContext) -> LocalPiperTTSService:
        return LocalPiperTTSService(
            self.voice(),
            voice_name=self._model_path().stem,
            text_transforms=self.text_transforms(),
        )
