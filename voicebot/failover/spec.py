"""A list in the bot spec (``llm=[a, b]``) becomes that stage's fallback group.

Kept apart from ``bot.py`` so the spec stays small and imports a group only when a list is
given: ``FallbackLLM`` lives here (``voicebot.failover.llm``), ``FallbackSTT`` and
``FallbackTTS`` in ``voicebot.failover.stt`` and ``.tts``.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

from voicebot.errors import ConfigError
from voicebot.failover.members import EXAMPLES
from voicebot.providers.base import Kind, Provider

#: The group class of each stage that takes a list: (module, class).
GROUPS: dict[str, tuple[str, str]] = {
    "stt": ("voicebot.failover.stt", "FallbackSTT"),
    "llm": ("voicebot.failover.llm", "FallbackLLM"),
    "tts": ("voicebot.failover.tts", "FallbackTTS"),
}


def fallback_group(kind: Kind, values: Sequence[Any]) -> Provider:
    """The provider for ``Bot(<kind>=[...])``: one item is that provider, two or more the
    stage's fallback group, tried in the order given."""
    from voicebot import registry

    if kind not in GROUPS:
        raise ConfigError(f"the bot's {kind} takes one provider, not a list")
    if not values:
        raise ConfigError(
            f"Bot({kind}=[]) has no provider: give one, or several to fall back through in "
            f"order, e.g. {kind}={EXAMPLES[kind]}"
        )
    providers = [registry.resolve(kind, v) for v in values]
    if len(providers) == 1:
        return providers[0]
    module, name = GROUPS[kind]
    try:
        group = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as e:
        raise ConfigError(
            f"a list of {kind} providers needs {name}, which this voicebot does not have: "
            f"give one {kind} provider ({e})"
        ) from e
    return group(providers)  # type: ignore[no-any-return]


def members(provider: Provider) -> list[Provider]:
    """The providers a stage holds: a group's, or the provider itself."""
    held = getattr(provider, "providers", None)
    if isinstance(held, (list, tuple)) and all(isinstance(p, Provider) for p in held):
        return list(held)
    return [provider]


def connect(stage: Any, *, apology: str | None, max_failed_turns: int, on_switch: Any) -> None:
    """Wire a built stage that is a fallback group into its session: each switch goes to
    ``on_switch`` (the turn log files it on the turn record), and an LLM group learns the
    bot's apology. Anything else is left alone."""
    add_listener = getattr(stage, "add_listener", None)
    if callable(add_listener) and hasattr(stage, "events"):
        add_listener(on_switch)
    set_apology = getattr(stage, "set_apology", None)
    if callable(set_apology):
        set_apology(apology, max_failed_turns)
