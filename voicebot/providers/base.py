"""What every provider is: a typed, validated option bag that builds one Pipecat processor.

A provider never talks to a vendor itself. It checks, before anything starts, that it can be
built (its extra is installed, its key is known, its sample rate fits the bot), then builds
the Pipecat service that does the talking. Adding a vendor is adding one subclass in one file.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from voicebot.env import lookup
from voicebot.errors import (
    ConfigError,
    MissingAPIKeyError,
    MissingExtraError,
    SampleRateError,
    from_validation_error,
)

if TYPE_CHECKING:
    from pipecat.audio.vad.vad_analyzer import VADAnalyzer
    from pipecat.frames.frames import StartFrame
    from pipecat.pipeline.worker import PipelineWorker
    from pipecat.processors.frame_processor import FrameProcessor
    from pipecat.services.settings import LLMSettings
    from pipecat.transcriptions.language import Language
    from pipecat.transports.base_transport import BaseTransport
    from pipecat.turns.user_start import BaseUserTurnStartStrategy
    from pipecat.turns.user_turn_strategies import UserTurnStrategies
    from pipecat.utils.text.base_text_aggregator import TextType
    from pipecat.utils.text.transforms.text_transform import TextTransform

Kind = Literal["transport", "vad", "turn", "stt", "llm", "tts"]
KINDS: tuple[Kind, ...] = ("transport", "vad", "turn", "stt", "llm", "tts")


@dataclass(frozen=True)
class BuildContext:
    """What a provider may know about the bot it is built into."""

    audio_in_sample_rate: int = 16000
    audio_out_sample_rate: int = 24000
    env: Mapping[str, str] = field(default_factory=dict, repr=False)  # keys: never printed
    allow_interruptions: bool = True
    system_prompt: str | None = None
    #: The bot's LLM when it runs in this process (``LLMProvider.in_process_model``): a
    #: function returning it loaded, for a stage that can share it (the turn's words check).
    in_process_llm: Callable[[], Any] | None = field(default=None, repr=False)


class Provider(BaseModel):
    """Base of every stage provider.

    Subclasses declare their options as pydantic fields (one way to set each) and these
    class attributes:

    - ``kind``: the stage it fills; ``name``: the short name the registry knows it by.
    - ``extra``: the ``voicebot[...]`` extra that installs its vendor package, and
      ``requires``: importable module names that prove the extra is installed.
    - ``api_key_env``: the environment variable holding its key, if it needs one.
    """

    # No option is infinite or NaN: "never" is None where an option allows it.
    model_config = ConfigDict(
        extra="forbid", frozen=True, arbitrary_types_allowed=True, allow_inf_nan=False
    )

    kind: ClassVar[Kind]
    name: ClassVar[str]
    extra: ClassVar[str | None] = None
    requires: ClassVar[tuple[str, ...]] = ()
    api_key_env: ClassVar[str | None] = None

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as e:
            fields = type(self).model_fields
            raise from_validation_error(type(self).__name__, e, fields) from None

    # ---- checks, run by Bot.check() before anything starts ---------------------------------

    def check(self, ctx: BuildContext) -> None:
        """Raise a ConfigError naming the fix if this provider cannot be built in ``ctx``."""
        self.check_installed()
        if self.api_key_env is not None:
            self.resolve_api_key(ctx)

    def cores_per_call(self) -> float | None:
        """CPU cores one call needs from this stage to keep real time on this host, when
        that is what limits how many calls a host serves (in-process models); None when the
        stage's work is done elsewhere or is small. ``voicebot serve`` refuses more calls
        than the host's cores allow (``voicebot.server.options.check_capacity``)."""
        return None

    def runs_in_process(self) -> bool:
        """Whether the model runs on this machine's CPU (a local model, not a vendor's
        server): as a last fallback it is given longer before it counts as failed."""
        return self.cores_per_call() is not None

    def prepare(self) -> None:
        """Load what is slow to load (local models), once per process; may block.

        ``Bot.prepare()`` runs it in a worker thread before a session starts."""

    @classmethod
    def missing_modules(cls) -> list[str]:
        """The modules of ``requires`` that cannot be imported here."""
        missing = []
        for module in cls.requires:
            try:
                found = importlib.util.find_spec(module) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                missing.append(module)
        return missing

    @classmethod
    def check_installed(cls) -> None:
        missing = cls.missing_modules()
        if missing:
            hint = (
                f'pip install "voicebot[{cls.extra}]"' if cls.extra else f"pip install {missing[0]}"
            )
            raise MissingExtraError(
                f"{cls.__name__} needs {', '.join(missing)}, which is not installed: {hint}"
            )

    def resolve_api_key(self, ctx: BuildContext) -> str:
        """The key passed as ``api_key=``, else the one in the environment or ``.env``."""
        explicit = getattr(self, "api_key", None)
        if isinstance(explicit, SecretStr) and explicit.get_secret_value():
            return explicit.get_secret_value()
        assert self.api_key_env is not None
        from_env = lookup(ctx.env, self.api_key_env)
        if from_env is None:
            raise MissingAPIKeyError(
                f"{type(self).__name__} needs an API key: pass api_key=... or set "
                f"{self.api_key_env} in the environment or in .env"
            )
        return from_env

    def describe(self) -> str:
        """One line for logs and the CLI: the class and the options that were set."""
        options = ", ".join(
            f"{k}={'***' if isinstance(v, SecretStr) else repr(v)}"
            for k, v in self.model_dump(exclude_unset=True).items()
        )
        return f"{type(self).__name__}({options})"


def _require_rate(provider: Provider, what: str, wanted: int | None, actual: int) -> None:
    if wanted is not None and wanted != actual:
        raise SampleRateError(
            f"{type(provider).__name__}(sample_rate={wanted}) does not match the bot's {what} "
            f"sample rate of {actual} Hz: drop sample_rate= or set the bot's {what} rate to "
            f"{wanted}"
        )


class TransportProvider(Provider):
    """Where audio comes from and goes to (a room, a phone call, a file)."""

    kind: ClassVar[Kind] = "transport"

    def fixed_sample_rates(self) -> tuple[int | None, int | None]:
        """(input, output) rates this transport forces, or None where it adapts to the bot."""
        return (None, None)

    def check(self, ctx: BuildContext) -> None:
        super().check(ctx)
        rate_in, rate_out = self.fixed_sample_rates()
        _require_rate(self, "input", rate_in, ctx.audio_in_sample_rate)
        _require_rate(self, "output", rate_out, ctx.audio_out_sample_rate)

    def build(self, ctx: BuildContext) -> BaseTransport:
        raise NotImplementedError

    #: Whether a client on this transport speaks RTVI; off, it halves per-frame cost.
    rtvi: bool = False

    def on_client_ready(
        self,
        transport: BaseTransport,
        worker: PipelineWorker,
        callback: Callable[[], Awaitable[None]],
    ) -> None:
        """Call ``callback`` when someone is there to hear the bot (a greeting waits for it).

        By default that is when the pipeline has started; transports with clients joining
        later (rooms, calls) override this.
        """

        async def started(_worker: PipelineWorker, _frame: StartFrame) -> None:
            await callback()

        worker.add_event_handler("on_pipeline_started", started)

    def on_client_gone(
        self,
        transport: BaseTransport,
        worker: PipelineWorker,
        callback: Callable[[], Awaitable[None]],
    ) -> None:
        """Call ``callback`` when the caller has left, so the session ends with them."""


class VADProvider(Provider):
    """Voice activity detection: when the user starts and stops making speech sounds."""

    kind: ClassVar[Kind] = "vad"

    def supported_sample_rates(self) -> tuple[int, ...] | None:
        return None

    def check(self, ctx: BuildContext) -> None:
        super().check(ctx)
        rates = self.supported_sample_rates()
        if rates is not None and ctx.audio_in_sample_rate not in rates:
            raise SampleRateError(
                f"{type(self).__name__} accepts {' or '.join(map(str, rates))} Hz input, but "
                f"the bot's input sample rate is {ctx.audio_in_sample_rate} Hz: set "
                f"Bot(sample_rate_in={rates[-1]})"
            )

    def build(self, ctx: BuildContext) -> VADAnalyzer:
        raise NotImplementedError


class TurnProvider(Provider):
    """End-of-turn detection: when the user has finished what they wanted to say.

    ``speculate=True`` starts the reply at the VAD's pause, while this provider still
    decides whether the turn is over; the reply is held until it is, and dropped (an extra
    LLM request) if the caller goes on (``voicebot/providers/turn_speculation.py``).
    """

    kind: ClassVar[Kind] = "turn"

    speculate: bool = False
    #: A speculative reply the turn never confirms is dropped after this long.
    speculation_timeout_secs: float = Field(default=10.0, gt=0)

    def build(self, ctx: BuildContext) -> UserTurnStrategies:
        raise NotImplementedError

    def strategies(self, ctx: BuildContext) -> UserTurnStrategies:
        """``build``'s strategies, with the stop strategy made speculative if asked."""
        strategies = self.build(ctx)
        if self.speculate:
            from voicebot.providers.turn_speculation import speculative

            strategies.stop = speculative(
                list(strategies.stop or []), timeout=self.speculation_timeout_secs
            )
        return strategies

    @staticmethod
    def start_strategies(ctx: BuildContext) -> list[BaseUserTurnStartStrategy]:
        """Pipecat's default turn-start strategies, honouring ``allow_interruptions``."""
        from pipecat.turns.user_start import (
            TranscriptionUserTurnStartStrategy,
            VADUserTurnStartStrategy,
        )

        allow = ctx.allow_interruptions
        return [
            VADUserTurnStartStrategy(enable_interruptions=allow),
            TranscriptionUserTurnStartStrategy(enable_interruptions=allow),
        ]


class ServiceProvider(Provider):
    """A provider that builds one Pipecat service (STT, LLM or TTS)."""

    def build(self, ctx: BuildContext) -> FrameProcessor:
        raise NotImplementedError


class STTProvider(ServiceProvider):
    kind: ClassVar[Kind] = "stt"

    def check(self, ctx: BuildContext) -> None:
        super().check(ctx)
        _require_rate(self, "input", getattr(self, "sample_rate", None), ctx.audio_in_sample_rate)


class LLMProvider(ServiceProvider):
    kind: ClassVar[Kind] = "llm"

    #: Whether the model behind it can be offered tools.
    supports_tools: ClassVar[bool] = True

    def prepare_tools(self, schemas: list[Any]) -> None:
        """Load whatever picks among these tools before a call comes (an offline router's
        embedding model), so the first request does not pay for it. ``schemas`` are the
        tools' Pipecat ``FunctionSchema``s. Most LLMs need nothing."""

    def prepare_conversation(self, system_prompt: str, greeting: str | None) -> None:
        """Evaluate what every call's prompt begins with (the system prompt, the greeting)
        before a call comes, for a model that keeps a prompt's start cached (the offline
        llama.cpp one), so a process's first call does not pay for it on its first turn.
        Most LLMs need nothing."""

    def in_process_model(self) -> Callable[[], Any] | None:
        """A function returning the model loaded in this process (``LoadedLlama``) when this
        LLM runs in-process, so other stages can share it instead of loading their own;
        None for a model behind a network API."""
        return None


class TTSProvider(ServiceProvider):
    kind: ClassVar[Kind] = "tts"

    #: Rewrite each piece of text for the ear just before synthesis ("9:30" -> "nine
    #: thirty", "$4.50" -> "four dollars and fifty cents"); the context keeps the text as
    #: written (docs/spoken_text.md).
    spoken_text: bool = True

    def text_transforms(self) -> list[tuple[TextType | str, TextTransform]]:
        """The ``text_transforms=`` a Pipecat TTS service is built with: none for a voice
        in another language than English (the rewriting is English: "9:30" would be read
        "nine thirty" in a German sentence)."""
        language = str(getattr(self, "language", None) or "en").lower()
        if not self.spoken_text or not language.startswith("en"):
            return []
        from voicebot.text.spoken_filter import spoken_transform

        return [("*", spoken_transform)]

    def check(self, ctx: BuildContext) -> None:
        super().check(ctx)
        _require_rate(self, "output", getattr(self, "sample_rate", None), ctx.audio_out_sample_rate)


def llm_settings(
    model: str,
    *,
    system_instruction: str | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
) -> LLMSettings:
    """Complete ``LLMSettings`` for a voicebot-made LLM service: Pipecat wants every field
    given, with ``None`` for what the service does not support."""
    from pipecat.services.settings import LLMSettings

    return LLMSettings(
        model=model,
        system_instruction=system_instruction,
        temperature=temperature,
        max_tokens=max_tokens,
        top_p=None,
        top_k=None,
        frequency_penalty=None,
        presence_penalty=None,
        seed=None,
        filter_incomplete_user_turns=False,
        user_turn_completion_config=None,
    )


def vendor_language(code: str) -> Language | str:
    """Pipecat's ``Language`` for a code it knows, else the code itself: vendors accept codes
    Pipecat has no enum for (Deepgram's ``"multi"``), and Pipecat passes strings through."""
    from pipecat.transcriptions.language import Language

    try:
        return Language(code)
    except ValueError:
        return code


def settings_kwargs(**values: Any) -> dict[str, Any]:
    """Only the options a user set, so Pipecat's own defaults stay in charge of the rest."""
    return {k: v for k, v in values.items() if v is not None}


def check_url(
    value: str | None,
    owner: str,
    field: str,
    schemes: tuple[str, ...],
    *,
    example: str,
    bare_host: bool = False,
) -> None:
    """Refuse anything but a URL of one of ``schemes`` with a host (or, with ``bare_host``,
    just a host): a bad URL would otherwise fail silently on every turn."""
    if value is None:
        return
    text = value if "://" in value or not bare_host else f"{schemes[0]}://{value}"
    try:
        parts = urlsplit(text)
        scheme, host = parts.scheme, parts.hostname
        _ = parts.port  # raises on a port that is not a number
    except ValueError:
        scheme, host = "", None
    if scheme not in schemes or not host or any(c.isspace() for c in value):
        raise ConfigError(
            f"{owner}({field}={value!r}) is not a {'/'.join(schemes)} URL with a host: give "
            f"one such as {example!r}"
        )
