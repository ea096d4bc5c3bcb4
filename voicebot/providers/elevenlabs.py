"""ElevenLabs streaming TTS over its multi-context WebSocket API (``ElevenLabsTTSService``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pydantic import SecretStr, field_validator

from voicebot.errors import ConfigError
from voicebot.providers.base import BuildContext, TTSProvider, check_url, vendor_language

if TYPE_CHECKING:
    from pipecat.services.elevenlabs.tts import ElevenLabsTTSService

#: A stock ElevenLabs voice ("George"), so the provider works without choosing one.
DEFAULT_VOICE = "JBFqnCBsd6RMkjVDRZzb"


class ElevenLabsTTS(TTSProvider):
    """ElevenLabs voices with character alignment, which Pipecat turns into word timestamps
    (so interrupted text is cut where heard).

    ``language`` is sent only to models that take a language code (Flash/Turbo v2.5, v3);
    left out, the model detects it. ``url`` is the API's base: another WebSocket server
    speaking ElevenLabs' protocol (a local one in tests).
    """

    name: ClassVar[str] = "elevenlabs"
    extra: ClassVar[str | None] = "elevenlabs"
    requires: ClassVar[tuple[str, ...]] = ("websockets", "pipecat.services.elevenlabs.tts")
    api_key_env: ClassVar[str | None] = "ELEVENLABS_API_KEY"

    voice_id: str = DEFAULT_VOICE
    model: str = "eleven_flash_v2_5"
    language: str | None = None
    api_key: SecretStr | None = None
    url: str = "wss://api.elevenlabs.io"
    sample_rate: int | None = None

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        check_url(value, "ElevenLabsTTS", "url", ("wss", "ws"), example="wss://api.elevenlabs.io")
        if "/v1/text-to-speech" in value:  # Pipecat appends the endpoint's path itself
            raise ConfigError(
                f"ElevenLabsTTS(url={value!r}) is the API's base URL, without the endpoint's "
                "path: give one such as 'wss://api.elevenlabs.io'"
            )
        return value

    @property
    def endpoint(self) -> str:
        """The WebSocket URL connected to (named when it cannot be reached)."""
        return f"{self.url.rstrip('/')}/v1/text-to-speech/{self.voice_id}/multi-stream-input"

    def build(self, ctx: BuildContext) -> ElevenLabsTTSService:
        from pipecat.services.elevenlabs.tts import ElevenLabsTTSService

        language = vendor_language(self.language) if self.language else None
        return ElevenLabsTTSService(
            api_key=self.resolve_api_key(ctx),
            url=self.url.rstrip("/"),
            sample_rate=self.sample_rate,
            settings=ElevenLabsTTSService.Settings(
                voice=self.voice_id, model=self.model, language=language
            ),
            text_transforms=self.text_transforms(),
        )
