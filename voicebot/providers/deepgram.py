"""Deepgram streaming STT, through Pipecat's ``DeepgramSTTService`` (live WebSocket API)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pydantic import Field, SecretStr, field_validator

from voicebot.providers.base import (
    BuildContext,
    STTProvider,
    check_url,
    settings_kwargs,
    vendor_language,
)

if TYPE_CHECKING:
    from pipecat.services.deepgram.stt import DeepgramSTTService


class DeepgramSTT(STTProvider):
    """Deepgram live transcription.

    ``base_url`` points the client at another host (``ws://127.0.0.1:8765`` for a local
    server speaking Deepgram's protocol, or a private deployment).
    """

    name: ClassVar[str] = "deepgram"
    extra: ClassVar[str | None] = "deepgram"
    requires: ClassVar[tuple[str, ...]] = ("deepgram", "pipecat.services.deepgram.stt")
    api_key_env: ClassVar[str | None] = "DEEPGRAM_API_KEY"

    model: str = Field(default="nova-3-general", min_length=1)
    language: str = "en"
    api_key: SecretStr | None = None
    base_url: str | None = None
    sample_rate: int | None = None
    interim_results: bool = True
    smart_format: bool | None = None
    endpointing: int | bool | None = None
    keyterms: list[str] | None = None

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str | None) -> str | None:
        check_url(
            value,
            "DeepgramSTT",
            "base_url",
            ("wss", "ws", "https", "http"),
            example="ws://127.0.0.1:8765",
            bare_host=True,
        )
        return value

    @property
    def endpoint(self) -> str:
        """The live-transcription URL connected to (named when it cannot be reached)."""
        base = (self.base_url or "wss://api.deepgram.com").rstrip("/")
        if "://" not in base:
            base = f"wss://{base}"
        return f"{base}/v1/listen"

    def build(self, ctx: BuildContext) -> DeepgramSTTService:
        from pipecat.services.deepgram.stt import DeepgramSTTService

        settings = DeepgramSTTService.Settings(
            model=self.model,
            language=vendor_language(self.language),
            interim_results=self.interim_results,
            **settings_kwargs(
                smart_format=self.smart_format,
                endpointing=self.endpointing,
                keyterm=self.keyterms,
            ),
        )
        return DeepgramSTTService(
            api_key=self.resolve_api_key(ctx),
            base_url=self.base_url or "",
            sample_rate=self.sample_rate,
            settings=settings,
        )
