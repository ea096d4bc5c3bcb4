"""OpenAI's Realtime model (speech in, speech out) through Pipecat's ``OpenAIRealtimeLLMService``.

``Bot(realtime=OpenAIRealtime(...))`` replaces the STT, LLM and TTS stages with this one
model (``voicebot.realtime_session`` assembles that pipeline). The model hears the caller's
audio itself, decides when a turn ends (server VAD), speaks, transcribes both sides and
calls the bot's tools.

The service built is Pipecat's with two differences (``voicebot_realtime_service``):

- **Loud failures.** Pipecat treats an ``error`` event as the end of the connection (its
  receive loop stops) but reports it as an ordinary error, so the service stays "usable"
  and a session would go on deaf and mute. Here such an error, and a failed connect or
  send, marks the service unusable: ``FailureWatch`` ends the session with a
  ``VendorError`` naming the stage and the server's own code and message.
- **Latency records.** The model's turn boundaries also go downstream as the VAD frames a
  cascaded bot's VAD makes (the stop dated ``silence_secs`` back, as Pipecat dates its own
  VAD's), so ``TurnRecord.voice_to_voice_secs`` is measured the same way in both.
"""

from __future__ import annotations

import functools
import re
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr, field_validator

from voicebot.errors import MissingAPIKeyError
from voicebot.providers.base import BuildContext, Kind, ServiceProvider, check_url

DEFAULT_URL = "wss://api.openai.com/v1/realtime"
#: OpenAI's default ``silence_duration_ms`` for server VAD: how long after the caller's
#: last sound the model rules the turn over.
DEFAULT_SILENCE_MS = 500
#: The caller's words are transcribed by this model (the Realtime model itself only hears).
DEFAULT_TRANSCRIPTION_MODEL = "gpt-4o-transcribe"

#: How Pipecat words an error that ends the connection: an ``error`` event, a failed
#: connect, a failed send (``services/openai/realtime/llm.py``).
_CONNECTION_ERRORS = ("Error: ", "Error connecting", "Error sending client event")
_EVENT_ERROR = re.compile(r"code='(?P<code>[^']*)', message=(?P<q>['\"])(?P<message>.*?)(?P=q)")


class OpenAIRealtime(ServiceProvider):
    """OpenAI's speech-to-speech model over its Realtime WebSocket API.

    ``turn_detection``: ``"server_vad"`` (silence after speech ends the turn) or
    ``"semantic_vad"`` (the model judges whether the caller has finished). ``language``
    (e.g. ``"en"``) helps the caller's transcription; ``transcription_model=None`` turns
    that transcription off (``TurnRecord.user_text`` is then ``"…"``). ``url`` points at
    another server speaking the protocol (a local one in tests); only an explicit
    ``api_key=`` is sent there (``OPENAI_API_KEY`` never leaves for another host).
    """

    kind: ClassVar[Kind] = "llm"  # the stage it thinks in; it also hears and speaks
    name: ClassVar[str] = "openai"
    extra: ClassVar[str | None] = "openai"
    requires: ClassVar[tuple[str, ...]] = ("websockets", "pipecat.services.openai.realtime.llm")
    api_key_env: ClassVar[str | None] = "OPENAI_API_KEY"

    model: str = "gpt-realtime"
    voice: str = "alloy"
    api_key: SecretStr | None = None
    url: str = DEFAULT_URL
    language: str | None = None
    turn_detection: Literal["server_vad", "semantic_vad"] = "server_vad"
    #: Server VAD only: the silence, in ms, that ends the caller's turn.
    silence_ms: int = Field(default=DEFAULT_SILENCE_MS, ge=0)
    transcription_model: str | None = DEFAULT_TRANSCRIPTION_MODEL

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        check_url(value, "OpenAIRealtime", "url", ("wss", "ws"), example=DEFAULT_URL)
        return value

    @property
    def endpoint(self) -> str:
        """The WebSocket URL connected to (named when it cannot be reached or refuses)."""
        return self.url

    def check(self, ctx: BuildContext) -> None:
        self.check_installed()
        self.resolve_api_key(ctx)

    def resolve_api_key(self, ctx: BuildContext) -> str:
        if self.url == DEFAULT_URL or (self.api_key and self.api_key.get_secret_value()):
            return super().resolve_api_key(ctx)
        raise MissingAPIKeyError(
            f"OpenAIRealtime(url={self.url!r}) is not OpenAI's server: pass its key as "
            "api_key=... (OPENAI_API_KEY is only sent to OpenAI)"
        )

    def build(self, ctx: BuildContext) -> Any:
        from pipecat.services.openai.realtime import events

        service = voicebot_realtime_service()
        if self.turn_detection == "server_vad":
            detection: Any = events.TurnDetection(silence_duration_ms=self.silence_ms)
        else:
            detection = events.SemanticTurnDetection()
        transcription = (
            events.InputAudioTranscription(model=self.transcription_model, language=self.language)
            if self.transcription_model
            else None
        )
        audio = events.AudioConfiguration(
            input=events.AudioInput(transcription=transcription, turn_detection=detection),
            output=events.AudioOutput(voice=self.voice),
        )
        settings = service.Settings(
            model=self.model,
            system_instruction=ctx.system_prompt,
            session_properties=events.SessionProperties(audio=audio),
        )
        silence = self.silence_ms / 1000 if self.turn_detection == "server_vad" else 0.0
        return service(
            api_key=self.resolve_api_key(ctx),
            base_url=self.url,
            settings=settings,
            silence_secs=silence,
        )


def connection_error(text: str) -> str | None:
    """The one-line reason for an error that ends the Realtime connection (the server's
    ``code: message`` when Pipecat passed an ``error`` event on), else None."""
    if not text.startswith(_CONNECTION_ERRORS):
        return None
    found = _EVENT_ERROR.search(text)
    if found is None:
        return text
    return f"{found['code'] or 'error'}: {found['message']}"


@functools.cache
def voicebot_realtime_service() -> Any:
    """Pipecat's ``OpenAIRealtimeLLMService`` with loud connection errors and VAD frames
    for the latency records (see the module docstring). It keeps Pipecat's name."""
    from pipecat.frames.frames import (
        ErrorFrame,
        Frame,
        ProposedUserStartedSpeakingFrame,
        ProposedUserStoppedSpeakingFrame,
        VADUserStartedSpeakingFrame,
        VADUserStoppedSpeakingFrame,
    )
    from pipecat.services.openai.realtime.llm import (
        OpenAIRealtimeLLMService as PipecatRealtimeService,
    )

    class OpenAIRealtimeLLMService(PipecatRealtimeService):
        __doc__ = voicebot_realtime_service.__doc__

        def __init__(self, *, silence_secs: float = 0.0, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.silence_secs = silence_secs

        async def broadcast_frame(self, frame_cls: type[Frame], **kwargs: Any) -> None:
            if frame_cls is ProposedUserStartedSpeakingFrame:
                await self.push_frame(VADUserStartedSpeakingFrame())
            elif frame_cls is ProposedUserStoppedSpeakingFrame:
                await self.push_frame(VADUserStoppedSpeakingFrame(stop_secs=self.silence_secs))
            await super().broadcast_frame(frame_cls, **kwargs)

        async def push_error_frame(
            self, error: ErrorFrame, force_treat_as_permanent: bool = False
        ) -> None:
            reason = connection_error(str(error.error))
            if reason is not None:  # the connection is over: nothing more will be heard
                error.error = reason
                force_treat_as_permanent = True
            await super().push_error_frame(error, force_treat_as_permanent)

    return OpenAIRealtimeLLMService
