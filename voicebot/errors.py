"""Errors voicebot raises, each naming the fix.

Every configuration problem is a ``ConfigError`` (a ``ValueError``), so an application can
catch one type; the subclasses let tests and tools tell the cases apart. ``VendorError`` is
the one raised once a session runs: a vendor that cannot be reached or refuses the key is,
to whoever runs the bot, a setting to fix like any other.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
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


class UnknownOptionError(ConfigError):
    """A keyword the spec or provider does not have (usually a typo)."""


class BotFileError(ConfigError):
    """A bot file or module that fails to import, or whose factory raises."""


class OutputPathError(ConfigError):
    """A file voicebot was asked to write cannot be written there."""


class ConfigProblems(ConfigError):
    """Several problems found at once, so a user fixes them all in one go."""

    def __init__(self, problems: Sequence[ConfigError], what: str = "the bot") -> None:
        self.problems = list(problems)
        lines = [f"{len(self.problems)} problems with {what}:"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


def raise_all(problems: Sequence[ConfigError], what: str = "the bot") -> None:
    """Raise nothing, the one problem as itself (its class intact), or ``ConfigProblems``."""
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise ConfigProblems(problems, what)


class VendorError(ConfigError):
    """A stage's vendor could not be reached, or refused the key, so the session ended.

    ``stage`` is the provider's class name (``"DeepgramSTT"``), ``reason`` the short cause
    (``"401 Unauthorized"``, ``"connection refused"``); the message says both, and the fix.
    """

    def __init__(self, message: str, *, stage: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.stage = stage
        self.reason = reason


def from_validation_error(owner: str, error: Exception, fields: Iterable[str] = ()) -> ConfigError:
    """A pydantic ``ValidationError`` as one ConfigError: our own error if a validator raised
    one (its message already names the fix), a did-you-mean for a misspelt option (``fields``
    are the valid names), else one line per problem."""
    errors: list[Any] = list(getattr(error, "errors", list)())
    for err in errors:
        original = (err.get("ctx") or {}).get("error")
        if isinstance(original, ConfigError):
            return original
    known = sorted(fields)
    for err in errors:
        if err.get("type") == "extra_forbidden" and err.get("loc"):
            key = str(err["loc"][0])
            close = difflib.get_close_matches(key, known, n=1)
            if close:
                hint = f"did you mean {close[0]!r}?"
            else:
                hint = f"known options: {', '.join(known)}" if known else "check the spelling"
            return UnknownOptionError(f"unknown {owner} option {key!r}; {hint}")
    lines = []
    for err in errors:
        where = ".".join(str(p) for p in err.get("loc", ())) or owner
        lines.append(f"{where}: {err.get('msg')} (got {err.get('input')!r})")
    return ConfigError(f"invalid {owner}: " + "; ".join(lines) if lines else str(error))
