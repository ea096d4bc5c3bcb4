"""The bot spec: every stage of a voice bot declared in one typed, validated object.

``Bot`` only describes; ``Bot.session()`` turns the description into a running Pipecat
pipeline (see ``voicebot.session``). Each stage takes a provider object
(``DeepgramSTT(model="nova-3")``) or a short name (``"deepgram"``, ``"openai/gpt-4o-mini"``),
so swapping a vendor is changing one argument.

Slightly over the project's ~400 lines: every field of the spec and its validators stay
in this one file, the single place a user reads to learn what a bot can be.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from voicebot import redaction, registry
from voicebot.custom_processors import check_processor_spec
from voicebot.env import load_env
from voicebot.errors import ConfigError, DuplicateToolError, from_validation_error, raise_all
from voicebot.failover.spec import members
from voicebot.providers.base import (
    KINDS,
    BuildContext,
    Kind,
    LLMProvider,
    Provider,
    ServiceProvider,
    STTProvider,
    TransportProvider,
    TTSProvider,
    TurnProvider,
    VADProvider,
)
from voicebot.session_control import BargeIn, UserIdle, check_mute

if TYPE_CHECKING:
    from pipecat.processors.frame_processor import FrameProcessor

    from voicebot.knowledge.retrieval import Retrieval
    from voicebot.memory.memory import Memory
    from voicebot.metrics.prometheus import Prometheus
    from voicebot.metrics.records import TurnRecord
    from voicebot.processors.dtmf import DTMF
    from voicebot.server.outbound import OutboundCall
    from voicebot.session import Session
    from voicebot.tools.tool import Tool

    #: A custom stage: a FrameProcessor class or a factory, called for each session so no
    #: two sessions share a processor (an instance is refused: see ``make_processor``).
    ProcessorSpec = type[FrameProcessor] | Callable[[], FrameProcessor]
else:
    # Pydantic reads these annotations at run time. Their real classes live in modules that
    # import Pipecat (and numpy), which a spec must not pay for: each such field is checked
    # by ``_check_instance`` instead, which imports the class only when a value is given.
    FrameProcessor = Memory = Retrieval = Prometheus = TurnRecord = Tool = DTMF = Any
    ProcessorSpec = Any

_P = TypeVar("_P", bound=Provider)

#: Fields whose class is imported only when the field is set: field -> (module, class).
_LAZY_FIELD_TYPES: dict[str, tuple[str, str]] = {
    "memory": ("voicebot.memory.memory", "Memory"),
    "retrieval": ("voicebot.knowledge.retrieval", "Retrieval"),
    "prometheus": ("voicebot.metrics.prometheus", "Prometheus"),
    "dtmf": ("voicebot.processors.dtmf", "DTMF"),
}

#: What ``Bot(on_turn=...)`` is called with each completed turn: a function or a coroutine
#: function.
TurnCallback = Callable[["TurnRecord"], Awaitable[None] | None]

#: Where custom processors go, in pipeline order.
InsertionPoint = Literal["after_input", "after_stt", "before_llm", "before_tts", "after_tts"]
INSERTION_POINTS: tuple[str, ...] = (
    "after_input",
    "after_stt",
    "before_llm",
    "before_tts",
    "after_tts",
)
#: The insertion points of a speech-to-speech bot (``Bot(realtime=...)``): it has no STT or
#: TTS of its own to put a processor after or before.
REALTIME_INSERTION_POINTS: tuple[str, ...] = ("after_input", "before_llm", "after_tts")

DEFAULT_SYSTEM_PROMPT = (
    "You are a friendly voice assistant talking with someone on a call. Your replies are "
    "spoken aloud, so answer the question itself in one or two short sentences of plain "
    "words: no lists, markdown, emoji or special characters. If someone shares a problem, "
    "show you care and offer one practical next step."
)


class Bot(BaseModel):
    """A voice bot: transport → VAD/turn → STT → context → LLM (+ tools) → TTS → transport.

    With no vendor arguments it is the offline bot: Whisper, a small llama.cpp model and a
    Piper voice, all from PyPI packages (``voicebot[local]``), no keys, no network.

    Construction checks the spec's shape (known providers, unique tools, valid insertion
    points); ``check()`` — run automatically before a session starts — checks it against
    the machine (extras installed, API keys present, sample rates agreeing).
    """

    model_config = ConfigDict(
        extra="forbid", arbitrary_types_allowed=True, frozen=True, allow_inf_nan=False
    )

    # Defaults are made on first use, through the registry, so naming a vendor never
    # imports the offline stack (docs/offline.md).
    stt: STTProvider = Field(default_factory=lambda: _default("stt", "local", STTProvider))
    llm: LLMProvider = Field(default_factory=lambda: _default("llm", "local", LLMProvider))
    tts: TTSProvider = Field(default_factory=lambda: _default("tts", "local", TTSProvider))
    transport: TransportProvider | None = None
    vad: VADProvider = Field(default_factory=lambda: _default("vad", "silero", VADProvider))
    turn: TurnProvider = Field(default_factory=lambda: _default("turn", "smart-turn", TurnProvider))
    #: Speech-to-speech (``OpenAIRealtime(...)`` or ``"openai"``): one model hears, thinks
    #: and speaks instead of stt, llm and tts, and rules when turns end instead of vad and
    #: turn (``voicebot.realtime_session``). None: the cascaded stages above.
    realtime: ServiceProvider | None = None
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    greeting: str | None = None
    tools: tuple[Tool, ...] = ()
    processors: Mapping[InsertionPoint, tuple[ProcessorSpec, ...]] = Field(default_factory=dict)
    sample_rate_in: int = 16000
    sample_rate_out: int = 24000
    allow_interruptions: bool = True
    #: Speech over the bot pauses it at once; it is a barge-in when long or worded, and a
    #: backchannel ("mhm", a cough) lets the bot speak on (``BargeIn``). None: every sound
    #: the VAD hears interrupts, as in Pipecat.
    barge_in: BargeIn | None = Field(default_factory=BargeIn)
    idle_timeout_secs: float | None = 300.0
    #: When the caller's audio and words are ignored: "greeting", "first_speech",
    #: "tool_calls", "bot_speaking" (``voicebot.session_control``).
    mute_caller: tuple[str, ...] = ()
    #: Nudge a silent caller, then hang up (``UserIdle``); None: wait for them.
    user_idle: UserIdle | None = None
    # Latency you can see (docs/latency.md): each completed TurnRecord goes to ``on_turn``
    # (a function or coroutine function) and, as one JSON line, to ``turns_jsonl``;
    # ``tracing`` turns on Pipecat's OpenTelemetry spans; ``prometheus`` serves /metrics.
    on_turn: TurnCallback | None = None
    turns_jsonl: Path | None = None
    tracing: bool = False
    prometheus: Prometheus | None = None
    # What the bot remembers across and within calls (docs/memory.md).
    memory: Memory | None = None
    # RAG: passages looked up from the final transcript, within a time budget (docs/memory.md).
    retrieval: Retrieval | None = None
    # Keypad presses on a phone call: None is DTMF()'s defaults (docs/offline.md, "Phone audio").
    dtmf: DTMF | None = None
    # When every LLM of a fallback list fails a turn (docs/reliability.md): said instead of
    # an answer; after ``max_failed_turns`` such turns in a row the bot ends the call.
    apology: str | None = "Sorry, I'm having trouble right now. Please try again in a moment."
    max_failed_turns: int = Field(default=3, ge=1)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as e:
            raise from_validation_error("Bot", e, type(self).model_fields) from None

    def replace(self, **changes: Any) -> Bot:
        """A new bot with ``changes`` applied, built through the constructor so every check
        runs again (names resolve to providers, functions become tools, duplicates refused),
        which ``model_copy(update=...)`` would skip."""
        data = {name: getattr(self, name) for name in self.model_fields_set}
        data.update(changes)
        return type(self)(**data)

    # ---- shape checks (at construction) ---------------------------------------------------

    @field_validator("retrieval", mode="before")
    @classmethod
    def _wrap_retriever(cls, value: object) -> object:
        if value is None:
            return None
        from voicebot.knowledge.retrieval import Retrieval
        from voicebot.knowledge.retriever import Retriever

        if isinstance(value, Retriever) and not isinstance(value, Retrieval):
            return Retrieval(value)  # a bare retriever gets the default budget
        return value

    @field_validator(*_LAZY_FIELD_TYPES, mode="after")
    @classmethod
    def _check_instance(cls, value: object, info: ValidationInfo) -> object:
        if value is None:
            return None
        assert info.field_name is not None
        module, name = _LAZY_FIELD_TYPES[info.field_name]
        expected = getattr(importlib.import_module(module), name)
        if not isinstance(value, expected):
            raise ConfigError(
                f"Bot({info.field_name}=...) takes a {name} or None, not {type(value).__name__}"
            )
        return value

    @field_validator("sample_rate_in", "sample_rate_out")
    @classmethod
    def _check_rate(cls, value: int, info: ValidationInfo) -> int:
        from voicebot.audio.wav import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE

        if not MIN_SAMPLE_RATE <= value <= MAX_SAMPLE_RATE:
            raise ConfigError(
                f"Bot({info.field_name}={value}) is not a usable sample rate: give one from "
                f"{MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz (e.g. 16000 in, 24000 out)"
            )
        return value

    @field_validator("mute_caller", mode="before")
    @classmethod
    def _check_mute(cls, value: object) -> tuple[str, ...]:
        return check_mute(value)

    @field_validator("idle_timeout_secs")
    @classmethod
    def _check_idle_timeout(cls, value: float | None) -> float | None:
        if value is not None and not value > 0:
            raise ConfigError(
                f"Bot(idle_timeout_secs={value}) would end every call at once: give a number "
                "of seconds above 0, or None for no idle timeout"
            )
        return value

    @field_validator("transport", "vad", "turn", "stt", "llm", "tts", mode="before")
    @classmethod
    def _resolve_provider(cls, value: object, info: ValidationInfo) -> Provider | None:
        if value is None and info.field_name == "transport":
            return None
        kind = info.field_name
        assert kind in KINDS
        if isinstance(value, (list, tuple)):  # providers to fall back through, in order
            from voicebot.failover.spec import fallback_group

            return fallback_group(kind, value)
        return registry.resolve(kind, value)

    @field_validator("realtime", mode="before")
    @classmethod
    def _resolve_realtime(cls, value: object) -> ServiceProvider | None:
        return None if value is None else registry.resolve_realtime(value)

    @model_validator(mode="after")
    def _check_realtime(self) -> Bot:
        """A realtime model replaces five stages: one also set explicitly would be ignored."""
        if self.realtime is None:
            return self
        name = type(self.realtime).__name__
        unused = [f for f in ("stt", "llm", "tts", "vad", "turn") if f in self.model_fields_set]
        if unused:
            raise ConfigError(
                f"Bot(realtime={name}(...)) hears, thinks and speaks itself, so "
                f"{', '.join(f'{f}=' for f in unused)} would be ignored: drop "
                f"{'it' if len(unused) == 1 else 'them'}, or drop realtime= for the cascaded bot"
            )
        if self.retrieval is not None:
            raise ConfigError(
                f"Bot(realtime={name}(...)) cannot use retrieval: the model answers from its "
                "own conversation, which the passages never reach; drop one of them"
            )
        bad = [p for p in self.processors if p not in REALTIME_INSERTION_POINTS]
        if bad:
            raise ConfigError(
                f"Bot(realtime=...) has no {', '.join(bad)} insertion point (no STT or TTS "
                f"of its own): use {', '.join(REALTIME_INSERTION_POINTS)}"
            )
        return self

    @field_validator("tools", mode="before")
    @classmethod
    def _to_tools(cls, value: object) -> tuple[Tool, ...]:
        from voicebot.tools.tool import as_tool

        if value is None:
            return ()
        if not isinstance(value, (list, tuple)):
            raise ConfigError("tools must be a list of functions or @tool objects")
        return tuple(as_tool(v) for v in value)

    @field_validator("processors", mode="before")
    @classmethod
    def _to_processor_lists(cls, value: Any) -> dict[str, tuple[Any, ...]]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise ConfigError(
                "processors must map an insertion point to a list of processors, e.g. "
                "{'after_stt': [MyProcessor]}"
            )
        out: dict[str, tuple[Any, ...]] = {}
        for point, items in value.items():
            if point not in INSERTION_POINTS:
                raise ConfigError(
                    f"unknown insertion point {point!r}; use one of {', '.join(INSERTION_POINTS)}"
                )
            items = tuple(items) if isinstance(items, (list, tuple)) else (items,)
            for item in items:
                check_processor_spec(point, item)
            out[point] = items
        return out

    @field_validator("greeting")
    @classmethod
    def _check_greeting(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ConfigError("Bot(greeting=...) is blank: give words to say, or None for none")
        return value

    @model_validator(mode="after")
    def _check_idle(self) -> Bot:
        """The idle nudges must come before the idle timeout ends the call."""
        idle, timeout = self.user_idle, self.idle_timeout_secs
        if idle is not None and timeout is not None and idle.after_secs >= timeout:
            raise ConfigError(
                f"Bot(user_idle=UserIdle(after_secs={idle.after_secs:g})) never nudges: "
                f"idle_timeout_secs={timeout:g} ends the call first; give after_secs below "
                "it, or a longer idle_timeout_secs (None: none)"
            )
        return self

    @model_validator(mode="after")
    def _check_tools(self) -> Bot:
        seen: set[str] = set()
        for t in self.tools:
            if t.name in seen:
                raise DuplicateToolError(
                    f"two tools are named {t.name!r}; the LLM could not tell them apart: "
                    "rename one (e.g. @tool(name=...))"
                )
            seen.add(t.name)
        if self.memory is not None and self.memory.remember_tool and "remember" in seen:
            raise DuplicateToolError(
                "a tool is named 'remember', like the memory's built-in tool: rename yours "
                "or pass Memory(remember_tool=False)"
            )
        if self.tools and not self.llm.supports_tools:
            raise ConfigError(f"{type(self.llm).__name__} cannot call tools, but tools were given")
        return self

    # ---- environment checks (before a session starts) --------------------------------------

    def build_context(self, env: Mapping[str, str] | None = None) -> BuildContext:
        return BuildContext(
            audio_in_sample_rate=self.sample_rate_in,
            audio_out_sample_rate=self.sample_rate_out,
            env=dict(env) if env is not None else load_env(),
            allow_interruptions=self.allow_interruptions,
            system_prompt=self.system_prompt,
            in_process_llm=self.llm.in_process_model() if self.llm is not None else None,
        )

    def stages(self, transport: TransportProvider | None = None) -> list[Provider]:
        chosen = transport or self.transport
        head: list[Provider] = [chosen] if chosen is not None else []
        return [*head, *self.model_stages()]

    def model_stages(self) -> list[Provider]:
        """The stages that hear, think and speak (no transport): VAD, turn, STT, LLM, TTS,
        or the one speech-to-speech model that replaces them."""
        if self.realtime is not None:
            return [self.realtime]
        return [self.vad, self.turn, self.stt, self.llm, self.tts]

    def check(
        self,
        env: Mapping[str, str] | None = None,
        *,
        transport: TransportProvider | None = None,
    ) -> BuildContext:
        """The context the bot will be built in, or a ``ConfigError`` naming the fix.

        Every stage is checked, so a user with three missing keys learns of all three at
        once: one problem is raised as itself (``MissingAPIKeyError``, ...), several as
        ``ConfigProblems`` listing each on its own line."""
        problems: list[ConfigError] = []
        if (transport or self.transport) is None:
            problems.append(
                ConfigError(
                    "the bot has no transport: pass transport=... (e.g. DailyRoom(...), "
                    "WavFile(input=...)) or run it with `voicebot run --input in.wav`"
                )
            )
        ctx = self.build_context(env)
        # Before anything can log or fail: the keys it may resolve are masked in every output.
        names = [m.api_key_env for p in self.stages(transport) for m in members(p) if m.api_key_env]
        redaction.protect(self, ctx.env, names)
        checks: list[Callable[[], Any]] = [
            functools.partial(p.check, ctx) for p in self.stages(transport)
        ]
        if self.retrieval is not None:
            checks.append(self.retrieval.check)
        for run_check in checks:
            try:
                run_check()
            except ConfigError as e:
                problems.append(e)
        raise_all(problems)
        return ctx

    # ---- running ---------------------------------------------------------------------------

    def with_transport(self, transport: TransportProvider | str) -> Bot:
        """The same bot on another transport (e.g. a WAV file instead of a Daily room)."""
        return self.replace(transport=transport)

    def session(
        self,
        *,
        transport: TransportProvider | None = None,
        env: Mapping[str, str] | None = None,
        user_id: str | None = None,
    ) -> Session:
        """Check the spec, then build one conversation's pipeline, worker and context;
        ``user_id`` says whose memory the session uses (overriding ``Memory(user_id=...)``).

        Blocking (models, ONNX analyzers): for scripts. On a loop that serves other calls,
        ``await bot.start_session(...)`` instead."""
        from voicebot.session import Session

        ctx = self.check(env, transport=transport)
        chosen = transport or self.transport
        assert chosen is not None
        return Session.build(self, chosen, ctx, user_id=user_id)

    async def start_session(
        self,
        *,
        transport: TransportProvider | None = None,
        env: Mapping[str, str] | None = None,
        user_id: str | None = None,
    ) -> Session:
        """``session()`` for code already on a running event loop (a server, a test): the
        models load and the ONNX analyzers (Silero, smart-turn: ~150 ms warm) are built in
        a worker thread, so the calls already running on the loop are not stalled."""
        from voicebot.session import Session

        ctx = self.check(env, transport=transport)
        chosen = transport or self.transport
        assert chosen is not None
        await self.prepare(transport=chosen)
        return await Session.build_async(self, chosen, ctx, user_id=user_id)

    async def prepare(self, *, transport: TransportProvider | None = None) -> None:
        """Load every stage's models (once per process) in a worker thread, so the event
        loop keeps serving other sessions while a first one starts."""

        def prepare_all() -> None:
            for provider in self.stages(transport):
                provider.prepare()
            if self.tools and self.llm.supports_tools and self.realtime is None:
                self.llm.prepare_tools([t.to_function_schema() for t in self.tools])
            if self.realtime is None:
                self.llm.prepare_conversation(self.system_prompt, self.greeting)
            if self.retrieval is not None:
                self.retrieval.prepare()  # the embedding model and the document index

        await asyncio.to_thread(prepare_all)

    async def arun(self, *, handle_sigint: bool = False) -> Session:
        """Run one session to its end; returns it for its transcript and timings."""
        session = await self.start_session()
        await session.run(handle_sigint=handle_sigint)
        return session

    def run(self) -> Session:
        """Blocking ``arun`` with Ctrl-C handling, for scripts."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.arun(handle_sigint=True))
        raise ConfigError(
            "Bot.run() starts its own event loop, and one is running here: in async code "
            "use `await bot.arun()` (or `await bot.start_session()`)"
        )

    async def call(self, to: str, from_: str, **options: Any) -> OutboundCall:
        """Ring ``to`` from your number ``from_`` (E.164) through Twilio's REST API; when they
        answer, the call streams into the `voicebot serve` at ``server_url`` (or
        ``VOICEBOT_PUBLIC_URL``), whose bot talks to them. Credentials: this bot's
        ``Twilio(...)`` transport, or the environment. ``options``: ``server_url``,
        ``check_server``, ``env``, and ``calls.create`` options (``voicebot.server.outbound``)."""
        from voicebot.server.outbound import place_call

        return await place_call(self, to, from_, **options)


def _default(kind: Kind, name: str, expected: type[_P]) -> _P:
    """The built-in provider for a stage the spec leaves out, imported only now."""
    provider = registry.resolve(kind, name)
    assert isinstance(provider, expected)
    return provider
