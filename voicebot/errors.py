"""Errors voicebot raises before a bot starts, each naming the fix.

Every configuration problem is a ``ConfigError`` (a ``ValueError``), so an application can
catch one type; the subclasses let tests and tools tell the cases apart.
"""

from __future__ import annotations


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
