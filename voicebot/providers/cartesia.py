"""Cartesia streaming TTS over its WebSocket API, through ``CartesiaTTSService``."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pydantic import Field, SecretStr, field_validator

from voicebot.providers.base import BuildContext, TTSProvider, check_url, vendor_language

if TYPE_CHECKING:
    from pipecat.services.cartesia.tts import CartesiaTTSService

#: A stock Cartesia voice ("Katie"), so the provider works without choosing one.
DEFAULT_VOICE = "f786b574-daa5-4673-aa0c-cbe3e8534c02"


class CartesiaTTS(TTSProvider):
    """Cartesia Sonic voices with word timestamps (so interrupted text is cut where heard).

    ``url`` points at another WebSocket endpoint (a local server speaking Cartesia's protocol).
    """

    name: ClassVar[str] = "cartesia"
    extra: ClassVar[str | None] = "cartesia"
    requires: ClassVar[tuple[str, ...]] = ("websockets", "pipecat.services.cartesia.tts")
    api_key_env: ClassVar[str | None] = "CARTESIA_API_KEY"

    voice: str = DEFAULT_VOICE
    model: str = Field(default="sonic-3", min_length=1)
    language: str = "en"
    api_key: SecretStr | None = None
    url: str = "wss://api.cartesia.ai/tts/websocket"
    sample_rate: int | None = None

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        check_url(
            value,
            "CartesiaTTS",
            "url",
            ("wss", "ws"),
            example="wss://api.cartesia.ai/tts/websocket",
        )
        return value

    @property
    def endpoint(self) -> str:
        """The WebSocket URL connected to (named when it cannot be reached)."""
        return self.url

    def build(self, ctx: BuildContext) -> CartesiaTTSService:
        from pipecat.services.cartesia.tts import CartesiaTTSService

        return CartesiaTTSService(
            api_key=self.resolve_api_key(ctx),
            url=self.url,
            sample_rate=self.sample_rate,
            settings=CartesiaTTSService.Settings(
                voice=self.voice, model=self.model, language=vendor_language(self.language)
            ),
            text_transforms=self.text_transforms(),
        )
