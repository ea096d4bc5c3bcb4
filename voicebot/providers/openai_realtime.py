"""OpenAI's Realtime model (speech in, speech out) through Pipecat's ``OpenAIRealtimeLLMService``.

``Bot(realtime=OpenAIRealtime(...))`` replaces the STT, LLM and TTS stages with this one
model (``voicebot.realtime_session`` assembles that pipeline). The model hears the caller's
audio itself, decides when a turn ends (server VAD), speaks, transcribes both sides and
calls the bot's tools.

The service built is Pipecat's with these differences (``voicebot_realtime_service``):

- **Loud failures.** Pipecat treats an ``error`` event as the end of the connection (its
  receive loop stops) but reports it as an ordinary error, so the service stays "usable"
  and a session would go on deaf and mute; a socket the server closes is not reported at
  all. Here such an error, a closed socket, and a failed connect or send mark the service
  unusable: ``FailureWatch`` ends the session with a ``VendorError`` naming the stage and
  the server's own code and message (or the close code).
- **Latency records.** The model's turn boundaries also go downstream as the VAD frames a
  cascaded bot's VAD makes (the stop dated ``silence_secs`` back, as Pipecat dates its own
  VAD's), so ``TurnRecord.voice_to_voice_secs`` is measured the same way in both.
- **A quiet start.** Pipecat asks for a response on the first context it gets; for a bot
  without a greeting that is the caller's first turn, which the server's VAD has answered
  already (answered twice). Given ``quiet_start_context``, the service sets its
  conversation (and the tools) up from it once the API session is ready, asking for nothing.
- **Instructions paired with their responses** (``InstructionReplies``): an end waits for
  the response that speaks the goodbye, not for the end of whatever was being said.
- **No barge-in** (``Bot(allow_interruptions=False)``): the turn detection's
  ``interrupt_response: false``, so the server's VAD does not cancel the model's response
  either (Pipecat's server-VAD settings have no field for it: ``turn_options``).
"""

from __future__ import annotations

import asyncio
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
#: How a socket that closed under a session is reported (``closed_reason``).
_CLOSED = ("the server closed the connection", "the connection to the server was lost")
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
            turn_options={} if ctx.allow_interruptions else {"interrupt_response": False},
        )


def connection_error(text: str) -> str | None:
    """The one-line reason for an error that ends the Realtime connection (the server's
    ``code: message`` when Pipecat passed an ``error`` event on), else None."""
    if text.startswith(_CLOSED):
        return text
    if not text.startswith(_CONNECTION_ERRORS):
        return None
    found = _EVENT_ERROR.search(text)
    if found is None:
        return text
    return f"{found['code'] or 'error'}: {found['message']}"


def closed_reason(closed: BaseException | None) -> str:
    """Why the server's events stopped: ``closed`` is the ``ConnectionClosed`` the receive
    loop raised (None: the server closed the socket cleanly, code 1000)."""
    if closed is None:
        return _CLOSED[0]
    received = getattr(closed, "rcvd", None)
    if received is not None:
        return f"{_CLOSED[0]}: {received}"
    return f"{_CLOSED[1]} ({closed})"


class InstructionReplies:
    """Which of the model's responses answer the instructions ``RealtimeSpeech`` sent it
    (``session.say``, a nudge, a goodbye), so an end can wait for the one that speaks the
    goodbye rather than for the end of whatever was being said when it was asked.

    As Pipecat counts it (``response.created`` clears what awaits a response), a response
    takes in every instruction the service had sent before it started: the first response
    created after an instruction reached the service is the one that says it.
    """

    def __init__(self) -> None:
        self.unsent = 0  # asked, not yet at the service
        self.untaken = 0  # at the service, no response started since
        self.awaited: set[str] = set()  # responses that took one in and are not done
        self.answered = asyncio.Event()  # nothing asked is left unspoken
        self.answered.set()

    def asked(self) -> None:
        """``RealtimeSpeech`` sent an instruction down to the service."""
        self.unsent += 1
        self.answered.clear()

    def sent(self) -> None:
        """An instruction reached the service (which sends it to the API)."""
        if self.unsent:
            self.unsent -= 1
            self.untaken += 1

    def response_created(self, response_id: str) -> None:
        if self.untaken:
            self.untaken = 0
            self.awaited.add(response_id)

    def response_done(self, response_id: str) -> None:
        self.awaited.discard(response_id)
        if not (self.unsent or self.untaken or self.awaited):
            self.answered.set()


@functools.cache
def voicebot_realtime_service() -> Any:
    """Pipecat's ``OpenAIRealtimeLLMService`` with loud connection errors, VAD frames for
    the latency records, a quiet start, paired instructions and the turn detection's extra
    options (see the module docstring). It keeps Pipecat's name."""
    from pipecat.frames.frames import (
        ErrorFrame,
        Frame,
        LLMMessagesAppendFrame,
        ProposedUserStartedSpeakingFrame,
        ProposedUserStoppedSpeakingFrame,
        VADUserStartedSpeakingFrame,
        VADUserStoppedSpeakingFrame,
    )
    from pipecat.processors.frame_processor import FrameDirection
    from pipecat.services.openai.realtime import events
    from pipecat.services.openai.realtime.llm import (
        OpenAIRealtimeLLMService as PipecatRealtimeService,
    )

    from voicebot.pipecat_compat import realtime_service_hooks

    class SessionUpdate(events.SessionUpdateEvent):
        """A ``session.update`` whose turn detection also carries ``turn_options``."""

        turn_options: dict[str, Any] = Field(default_factory=dict, exclude=True)

        def model_dump(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
            dump = super().model_dump(*args, **kwargs)
            audio_in = (dump["session"].get("audio") or {}).get("input") or {}
            if isinstance(audio_in.get("turn_detection"), dict):
                audio_in["turn_detection"].update(self.turn_options)
            return dump

    class OpenAIRealtimeLLMService(realtime_service_hooks(PipecatRealtimeService)):  # type: ignore[misc]
        __doc__ = voicebot_realtime_service.__doc__

        def __init__(
            self,
            *,
            silence_secs: float = 0.0,
            turn_options: dict[str, Any] | None = None,
            **kwargs: Any,
        ) -> None:
            super().__init__(**kwargs)
            self.silence_secs = silence_secs
            self.turn_options = dict(turn_options or {})
            self.instruction_replies = InstructionReplies()
            #: A bot without a greeting: the context to set the conversation up from.
            self.quiet_start_context: Any = None
            self.connection_over = False  # a connection error has been reported

        async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
            if isinstance(frame, LLMMessagesAppendFrame) and frame.run_llm:
                self.instruction_replies.sent()
            await super().process_frame(frame, direction)

        async def send_client_event(self, event: Any) -> None:
            if self.turn_options and isinstance(event, events.SessionUpdateEvent):
                event = SessionUpdate(
                    event_id=event.event_id, session=event.session, turn_options=self.turn_options
                )
            await super().send_client_event(event)

        async def on_session_updated(self) -> None:
            if self.quiet_start_context is not None and not self.has_context():
                await self.set_up_conversation(self.quiet_start_context)

        async def on_response_created(self, response_id: str) -> None:
            self.instruction_replies.response_created(response_id)

        async def on_response_done(self, response_id: str) -> None:
            self.instruction_replies.response_done(response_id)

        async def on_receive_ended(self, closed: BaseException | None) -> None:
            if not self.connection_over:  # an error event ends the loop: said already
                await self.push_error(error_msg=closed_reason(closed))

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
                self.connection_over = True
            await super().push_error_frame(error, force_treat_as_permanent)

    return OpenAIRealtimeLLMService
