"""What the three fallback-group providers (``FallbackSTT``, ``FallbackLLM``,
``FallbackTTS``) do alike over their members: take them from a list, check them all at once,
load them, size a call by the hungriest, and name them in order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from voicebot.errors import ConfigError, raise_all
from voicebot.providers.base import BuildContext, Kind, Provider

#: A list to show in the errors, per stage.
EXAMPLES = {
    "stt": "[DeepgramSTT(), WhisperSTT()]",
    "llm": "[OpenAILLM(), LlamaLLM()]",
    "tts": "[CartesiaTTS(), PiperTTS()]",
}


def resolve_members(
    group: type, kind: Kind, value: object, member: type[Provider]
) -> tuple[Provider, ...]:
    """``value``'s providers (objects or registry names), each a ``member``, or the
    ``ConfigError`` naming the fix: an empty or non-list value, a nested group, a provider of
    another stage."""
    from voicebot import registry

    name = group.__name__
    if not isinstance(value, (list, tuple)) or not value:
        raise ConfigError(
            f"{name} needs a list of {kind.upper()} providers, e.g. {name}({EXAMPLES[kind]})"
        )
    resolved = tuple(registry.resolve(kind, v) for v in value)
    for provider in resolved:
        if isinstance(provider, group):
            raise ConfigError(f"{name}: give the providers themselves, not another list")
        if not isinstance(provider, member):
            raise ConfigError(
                f"{name} takes {kind.upper()} providers ({EXAMPLES[kind]}), "
                f"not {type(provider).__name__}"
            )
    return resolved


class GroupOfProviders:
    """The members' side of a fallback group provider; mixed in before its stage's provider
    class (``class FallbackSTT(GroupOfProviders, STTProvider)``)."""

    #: The stage, for messages.
    kind: ClassVar[Kind]
    if TYPE_CHECKING:
        providers: tuple[Any, ...]

    def __init__(self, providers: Sequence[Any] | None = None, /, **data: Any) -> None:
        """``Fallback...([a, b], policy=...)``; ``providers=`` by name works too."""
        if providers is not None:
            data["providers"] = providers
        data.setdefault("providers", ())  # none: the validator's "needs a list" error
        super().__init__(**data)

    def check(self, ctx: BuildContext) -> None:
        """Every member's problems at once, not one per run."""
        problems: list[ConfigError] = []
        for provider in self.providers:
            try:
                provider.check(ctx)
            except ConfigError as e:
                problems.append(e)
        raise_all(problems)

    def cores_per_call(self) -> float | None:
        """The most any member needs: when the cloud is down every call runs locally."""
        needs = [n for p in self.providers if (n := p.cores_per_call()) is not None]
        return max(needs) if needs else None

    def prepare(self) -> None:
        for provider in self.providers:
            provider.prepare()

    def describe(self) -> str:
        members = " -> ".join(p.describe() for p in self.providers)
        return f"{type(self).__name__}({members})"
