"""Silero VAD, the ONNX model that ships inside ``pipecat-ai`` (no download, ~1 ms per chunk)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pydantic import Field

from voicebot.providers.base import BuildContext, VADProvider

if TYPE_CHECKING:
    from pipecat.audio.vad.silero import SileroVADAnalyzer


class SileroVAD(VADProvider):
    """Neural voice activity detection; tells speech from noise, unlike an energy threshold.

    ``stop_secs`` is the silence after which speech is reported stopped: it sits on the
    critical path of every reply, so it is kept short and end-of-turn is left to ``turn``.
    """

    name: ClassVar[str] = "silero"
    requires: ClassVar[tuple[str, ...]] = ("onnxruntime",)
    extra: ClassVar[str | None] = None

    confidence: float = Field(default=0.7, gt=0, lt=1)
    start_secs: float = Field(default=0.2, gt=0, le=2)
    stop_secs: float = Field(default=0.2, gt=0, le=5)
    min_volume: float = Field(default=0.6, ge=0, le=1)

    def supported_sample_rates(self) -> tuple[int, ...]:
        return (8000, 16000)

    def prepare(self) -> None:
        """Build the process's Silero session now, not when the first call starts."""
        from voicebot.providers.onnx_sessions import silero_session

        silero_session()

    def build(self, ctx: BuildContext) -> SileroVADAnalyzer:
        """The call's own analyzer on the process's one Silero session (see onnx_sessions)."""
        from pipecat.audio.vad.vad_analyzer import VADParams

        from voicebot.providers.onnx_sessions import silero_analyzer

        return silero_analyzer(
            VADParams(
                confidence=self.confidence,
                start_secs=self.start_secs,
                stop_secs=self.stop_secs,
                min_volume=self.min_volume,
            )
        )
