"""Cartesia streaming TTS over its WebSocket API, through ``CartesiaTTSService``."""

from __future__ import annotations

from typing import ClassVar

from pydantic import SecretStr

from voicebot.providers.base import BuildContext, TTSProvider, vendor_language

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
    model: str = "sonic-3"
    language: str = "en"
    api_key: SecretStr | None = None
    url: str = "wss://api.cartesia.ai/tts/websocket"
    sample_rate: int | None = None

    def build(self, ctx: BuildContext):  # type: ignore[no-untyped-def]
        from pipecat.services.cartesia.tts import CartesiaTTSService

        return CartesiaTTSService(
            api_key=self.resolve_api_key(ctx),
            url=self.url,
            sample_rate=self.sample_rate,
            settings=CartesiaTTSService.Settings(
                voice=self.voice, model=self.model, language=vendor_language(self.language)
            ),
        )
