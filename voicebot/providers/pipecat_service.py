"""Any Pipecat service as a bot's STT, LLM or TTS: the way to use one of Pipecat's ~80
services that voicebot has no typed provider for, without writing a wrapper first.

    Bot(tts=lambda ctx: ElevenLabsTTSService(api_key=..., voice_id=...))   # a factory
    Bot(stt=MySTTService)                                                  # a class
    Bot(llm=GroqLLMService(api_key=..., model=...))                        # an instance

A factory (or class) is called once per session, so a bot served to many callers gives each
its own service; it gets the ``BuildContext`` if it takes an argument (sample rates, the
bot's system prompt). An instance can serve one session only (a Pipecat service cannot be
linked into two pipelines): a second session is refused with the fix. ``registry.resolve``
wraps these for the ``Bot`` fields, so the user never names the classes below.

What the typed providers add and these cannot: their checks before a call (keys, extras,
sample rates) and voicebot's spoken-text rewriting for a TTS (pass
``text_transforms=`` to the service yourself). A bot's ``system_prompt`` becomes the prompt of
an LLM service that has none of its own (Pipecat's ``append_system_instruction``).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import PrivateAttr

from voicebot.errors import ConfigError
from voicebot.providers.base import (
    BuildContext,
    Kind,
    LLMProvider,
    ServiceProvider,
    STTProvider,
    TTSProvider,
)

if TYPE_CHECKING:
    from pipecat.processors.frame_processor import FrameProcessor

#: The Pipecat base class each stage's service must be.
SERVICE_BASES: dict[str, str] = {
    "stt": "pipecat.services.stt_service:STTService",
    "llm": "pipecat.services.llm_service:LLMService",
    "tts": "pipecat.services.tts_service:TTSService",
}


def _base_class(kind: str) -> type[Any]:
    import importlib

    module, _, name = SERVICE_BASES[kind].partition(":")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


class PipecatServiceProvider(ServiceProvider):
    """A Pipecat service given as a factory, a class or an instance (see the module doc)."""

    name: ClassVar[str] = "pipecat"

    service: Any
    _used: bool = PrivateAttr(default=False)

    def build(self, ctx: BuildContext) -> FrameProcessor:
        base = _base_class(self.kind)
        if isinstance(self.service, base):
            if self._used:
                name = type(self.service).__name__
                raise ConfigError(
                    f"the bot's {self.kind} is a {name} instance, which serves one session "
                    f"only: pass a factory instead, e.g. {self.kind}=lambda ctx: {name}(...)"
                )
            self._used = True
            return self.service  # type: ignore[no-any-return]
        made = self.service(ctx) if _takes_context(self.service) else self.service()
        if not isinstance(made, base):
            raise ConfigError(
                f"the bot's {self.kind} factory {_name(self.service)} returned "
                f"{type(made).__name__}, not a Pipecat {base.__name__}"
            )
        return made  # type: ignore[no-any-return]

    def describe(self) -> str:
        return f"{type(self).__name__}({_name(self.service)})"

    @property
    def is_instance(self) -> bool:
        """Given as a built service: it can serve one session only."""
        return isinstance(self.service, _base_class(self.kind))


def refuse_instances(providers: Iterable[Any], where: str) -> None:
    """A server makes a session per call: a stage given as a service instance (alone or in
    a fallback list) would fail on the second call, so it is refused at start, naming it."""
    for provider in providers:
        for member in getattr(provider, "providers", None) or (provider,):
            if isinstance(member, PipecatServiceProvider) and member.is_instance:
                name = _name(member.service)
                raise ConfigError(
                    f"{where} makes a session for every call, but the bot's {member.kind} is "
                    f"a {name}, which serves one session only: pass a factory, e.g. "
                    f"{member.kind}=lambda ctx: {type(member.service).__name__}(...)"
                )


class PipecatSTT(PipecatServiceProvider, STTProvider):
    """Any Pipecat ``STTService`` (a factory, class or instance)."""


class PipecatLLM(PipecatServiceProvider, LLMProvider):
    """Any Pipecat ``LLMService`` (a factory, class or instance)."""

    def build(self, ctx: BuildContext) -> FrameProcessor:
        service = super().build(ctx)
        settings = getattr(service, "settings", None)
        if ctx.system_prompt and not getattr(settings, "system_instruction", None):
            # Pipecat's public way to add to a service's prompt; with none of its own, the
            # bot's prompt is the whole of it.
            service.append_system_instruction(ctx.system_prompt)  # type: ignore[attr-defined]
        return service


class PipecatTTS(PipecatServiceProvider, TTSProvider):
    """Any Pipecat ``TTSService`` (a factory, class or instance)."""

    spoken_text: bool = False  # built by the user: voicebot cannot add its text transform


PIPECAT_PROVIDERS: dict[str, type[PipecatServiceProvider]] = {
    "stt": PipecatSTT,
    "llm": PipecatLLM,
    "tts": PipecatTTS,
}


def as_pipecat_provider(kind: Kind, spec: object) -> PipecatServiceProvider | None:
    """The provider for ``spec`` if it is a Pipecat service for this stage, a class of one,
    or a function (a factory, checked when it is called); None for anything else. A Pipecat
    service or class of another kind is a ``ConfigError`` naming it."""
    if kind not in PIPECAT_PROVIDERS:
        return None
    if isinstance(spec, type):
        if not _is_pipecat(spec):
            return None
        is_service = issubclass(spec, _base_class(kind))
    elif _is_pipecat(spec):
        is_service = isinstance(spec, _base_class(kind))
    elif callable(spec):
        return PIPECAT_PROVIDERS[kind](service=spec)
    else:
        return None
    if not is_service:
        raise ConfigError(
            f"{_name(spec)} is not a Pipecat {_base_class(kind).__name__}, so it cannot be "
            f"the bot's {kind}"
        )
    return PIPECAT_PROVIDERS[kind](service=spec)


def _is_pipecat(spec: object) -> bool:
    """A Pipecat frame processor (or class of one), the user's own subclasses included."""
    cls = spec if isinstance(spec, type) else type(spec)
    return any(c.__module__.split(".")[0] == "pipecat" for c in cls.__mro__)


def _takes_context(factory: Any) -> bool:
    if isinstance(factory, type):
        return False  # a class: its own constructor arguments, none of ours
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(
        p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in params
    )


def _name(spec: object) -> str:
    if isinstance(spec, type):
        return spec.__name__
    if inspect.isfunction(spec) or inspect.ismethod(spec):
        return spec.__qualname__
    return f"{type(spec).__name__} instance"
