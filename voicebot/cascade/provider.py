"""``Cascade``: a fast model for routine turns, a capable one for the hard ones, one context.

    Bot(llm=Cascade(fast=LlamaLLM(), capable=LlamaLLM(profile="quality"),
                    route=any_of(needs_tool, longer_than(25), fast_declines)))

Both models are built and started with the session, tools are registered on both, and they
share the conversation: the capable model sees the turns the fast one answered, and the
other way round. What each turn does is in ``voicebot.cascade.switcher``; the policies in
``voicebot.cascade.routes``; which path answered is on the turn record
(``TurnRecord.llm_path``).

Members are single LLM providers: a fallback group (``FallbackLLM``) or another cascade as a
member is refused with a ``ConfigError``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, field_validator

from voicebot.cascade.routes import DEFAULT_ROUTE, AnyOf, as_route
from voicebot.cascade.switcher import CascadeSwitcher
from voicebot.errors import ConfigError
from voicebot.failover.members import GroupOfProviders
from voicebot.failover.policy import provider_label
from voicebot.providers.base import BuildContext, LLMProvider


class Cascade(GroupOfProviders, LLMProvider):
    """The fast model answers; ``route`` escalates a turn to the capable model, which
    speaks ``bridge`` first (None: no bridge). See the module docstring."""

    name: ClassVar[str] = "cascade"

    fast: LLMProvider
    capable: LLMProvider
    route: Any = Field(default=DEFAULT_ROUTE)
    #: Said as the capable model starts on an escalated turn (never on a fast one).
    bridge: str | None = "Let me check that."

    def __init__(self, **data: Any) -> None:
        LLMProvider.__init__(self, **data)  # keyword only: not a list like the groups

    @field_validator("fast", "capable", mode="before")
    @classmethod
    def _check_member(cls, value: Any) -> LLMProvider:
        from voicebot import registry

        provider = registry.resolve("llm", value)
        if not isinstance(provider, LLMProvider):
            raise ConfigError(f"Cascade takes LLM providers, not {type(provider).__name__}")
        if isinstance(provider, Cascade) or isinstance(getattr(provider, "providers", None), tuple):
            raise ConfigError(
                f"Cascade takes single LLM providers, not {type(provider).__name__}: to fall "
                "back, give each model on its own (a fallback group inside a cascade is not "
                "supported)"
            )
        return provider

    @field_validator("route", mode="before")
    @classmethod
    def _check_route(cls, value: Any) -> AnyOf:
        return as_route(value)

    @field_validator("bridge")
    @classmethod
    def _check_bridge(cls, value: str | None) -> str | None:
        return value if value is None or value.strip() else None

    @property
    def providers(self) -> tuple[LLMProvider, LLMProvider]:  # type: ignore[override]
        """The two models (the group's checks, loading and sizing go over both)."""
        return (self.fast, self.capable)

    @property
    def supports_tools(self) -> bool:  # type: ignore[override]
        """Tools only when both models can be offered them (either may answer)."""
        return self.fast.supports_tools and self.capable.supports_tools

    def prepare_tools(self, schemas: list[Any]) -> None:
        for provider in self.providers:
            provider.prepare_tools(schemas)

    def prepare_conversation(self, system_prompt: str, greeting: str | None) -> None:
        for provider in self.providers:
            provider.prepare_conversation(system_prompt, greeting)

    def describe(self) -> str:
        route = self.route.describe() if isinstance(self.route, AnyOf) else repr(self.route)
        return (
            f"Cascade(fast={self.fast.describe()}, capable={self.capable.describe()}, "
            f"route={route})"
        )

    def build(self, ctx: BuildContext) -> CascadeSwitcher:
        return CascadeSwitcher(
            self.fast.build(ctx),
            self.capable.build(ctx),
            route=self.route,
            bridge=self.bridge,
            labels=(label(self.fast), label(self.capable)),
        )


def label(provider: LLMProvider) -> str:
    """A member's name on the record: its class and model, or its offline profile."""
    base = provider_label(provider)
    profile = getattr(provider, "profile", None)
    if base == type(provider).__name__ and isinstance(profile, str):
        return f"{base}({profile})"
    return base
