"""Errors voicebot raises before a bot starts, each naming the fix.

Every configuration problem is a ``ConfigError`` (a ``ValueError``), so an application can
catch one type; the subclasses let tests and tools tell the cases apart.
"""

from __future__ import annotations

from typing import Any


class ConfigError(ValueError):
    """A bot spec that cannot run as written."""


class UnknownProviderError(ConfigError):
    """A stage names a provider the registry does not know."""


class MissingExtraError(ConfigError):
    """A provider's vendor package is not installed."""


class MissingAPIKeyError(ConfigError):
    """A provider needs a key that was neither passed nor found in the environment or .env."""


class SampleRateError(ConfigError):
    """Two stages disagree on an audio sample rate."""


class DuplicateToolError(ConfigError):
    """Two tools share a name, so the LLM could not tell them apart."""


class ToolDefinitionError(ConfigError):
    """A function cannot be turned into a tool (e.g. an untyped parameter)."""


def from_validation_error(owner: str, error: Exception) -> ConfigError:
    """A pydantic ``ValidationError`` as one ConfigError: our own error if a validator raised
    one (its message already names the fix), else one line per problem."""
    errors: list[Any] = list(getattr(error, "errors", list)())
    for err in errors:
        original = (err.get("ctx") or {}).get("error")
        if isinstance(original, ConfigError):
            return original
    lines = []
    for err in errors:
        where = ".".join(str(p) for p in err.get("loc", ())) or owner
        lines.append(f"{where}: {err.get('msg')} (got {err.get('input')!r})")
    return ConfigError(f"invalid {owner}: " + "; ".join(lines) if lines else str(error))
