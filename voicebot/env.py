"""Where API keys and other settings come from: arguments, the process environment, ``.env``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def load_env(dotenv_path: str | Path | None = None) -> dict[str, str]:
    """The environment a bot resolves keys from; the process environment wins over ``.env``.

    ``.env`` is read from the current directory unless a path is given; it is never written
    into ``os.environ``, so resolving one bot does not leak keys into another.
    """
    from dotenv import dotenv_values  # only when keys are resolved, not on import

    path = Path(dotenv_path) if dotenv_path is not None else Path.cwd() / ".env"
    values: dict[str, str] = {}
    if path.is_file():
        values.update({k: v for k, v in dotenv_values(path).items() if v is not None})
    values.update(os.environ)
    return values


def lookup(env: Mapping[str, str], name: str) -> str | None:
    """A non-empty value of ``name``, or None: an empty variable counts as unset."""
    value = env.get(name)
    return value if value else None
