"""Loading the bot a command names (``voicebot run|serve|chat TARGET``): a ``.py`` file or
a module, and the attribute in it that is a ``Bot`` or a function returning one. Whatever
goes wrong in the user's file (a syntax error, an import, ``sys.exit``, a factory that
raises or returns something else) is one ``BotFileError`` naming the file and the fix."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import re
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from voicebot.bot import Bot
from voicebot.errors import BotFileError, ConfigError


def load_bot(target: str) -> Bot:
    """A ``Bot`` from ``path/to/file.py[:attr]`` or ``package.module[:attr]``.

    ``attr`` defaults to ``bot``; it may be a ``Bot`` or a function returning one. A file
    that fails to import, or a factory that raises, is one ``BotFileError`` line naming the
    file and line; a ``ConfigError`` from inside (a bad spec) goes through as it is.
    """
    location, _, attr = target.partition(":")
    if not location.strip():
        what = f"{target} names no file or module" if target else "the target is empty"
        raise ConfigError(f"{what}: give FILE.py[:attr] or module[:attr]")
    if location.endswith(".py") or Path(location).is_file():
        module = _import_file(Path(location), location)
    elif Path(location).is_dir():
        raise BotFileError(f"{location}: is a directory; give the bot's .py file")
    else:
        module = _import_module(location)
    name = attr or "bot"
    if not hasattr(module, name):
        found = [k for k, v in vars(module).items() if isinstance(v, Bot)]
        hint = f"; it has {', '.join(found)}" if found else ""
        raise ConfigError(f"{location} has no {name!r}{hint} (use {location}:NAME)")
    obj: Any = getattr(module, name)
    if isinstance(obj, type):
        what = "the Bot class" if obj is Bot else f"a class ({obj.__name__})"
        raise ConfigError(
            f"{location}:{name} is {what}, not a bot: name a Bot (bot = Bot(...)) or a "
            "function returning one"
        )
    if inspect.iscoroutinefunction(obj):
        raise ConfigError(
            f"{location}:{name} is an async function: a factory must be a plain function "
            "(def, not async def) returning a Bot"
        )
    if callable(obj) and not isinstance(obj, Bot):
        try:
            obj = obj()
        except ConfigError:
            raise
        except SystemExit as e:
            raise BotFileError(
                f"{location}: {name}() called sys.exit({e.code!r}) while the bot was loaded"
            ) from None
        except Exception as e:
            raise BotFileError(
                f"{location}: calling {name}() failed: {type(e).__name__}: {e}"
            ) from e
        if inspect.iscoroutine(obj):  # e.g. a partial of an async function
            obj.close()  # never awaited: closed, so Python does not warn about it
            raise ConfigError(
                f"{location}:{name}() returned a coroutine: a factory must be a plain "
                "function (def, not async def) returning a Bot"
            )
    if not isinstance(obj, Bot):
        raise ConfigError(f"{location}:{name} is a {type(obj).__name__}, not a voicebot.Bot")
    return obj


def _import_file(path: Path, location: str) -> ModuleType:
    """Run a bot file as a module under a private name: a file called ``json.py`` or
    ``voicebot.py`` must not shadow the module of that name for everything imported later.
    It is still registered in ``sys.modules`` so its dataclasses and pickling work."""
    if not path.is_file():
        if path.is_dir():
            what = "is a directory, not a .py file"
        else:
            what = "not a regular file" if path.exists() else "no such file"
        raise ConfigError(f"{location}: {what}")
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    stem = re.sub(r"\W", "_", path.stem)
    unique = f"_voicebot_bot_{stem}_{digest}"
    spec = importlib.util.spec_from_file_location(unique, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{location}: cannot be imported as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[unique] = module
    try:
        spec.loader.exec_module(module)
    except ConfigError:
        del sys.modules[unique]
        raise
    except SystemExit as e:
        del sys.modules[unique]
        raise _exited(e, location) from None
    except Exception as e:
        del sys.modules[unique]
        raise _import_failure(e, path, location) from e
    return module


def _import_module(location: str) -> ModuleType:
    try:
        return importlib.import_module(location)
    except ConfigError:
        raise
    except SystemExit as e:
        raise _exited(e, location) from None
    except ModuleNotFoundError as e:
        if e.name is not None and (location == e.name or location.startswith(e.name + ".")):
            raise ConfigError(f"cannot import {location!r}: {e}") from e
        raise _import_failure(e, None, location) from e
    except Exception as e:
        raise _import_failure(e, None, location) from e


def _exited(error: SystemExit, location: str) -> BotFileError:
    """A bot file that ends the process while imported: one line, never a silent exit."""
    return BotFileError(
        f"{location}: the bot file called sys.exit({error.code!r}) while being loaded"
    )


def _import_failure(error: Exception, path: Path | None, location: str) -> BotFileError:
    """``FILE:LINE: ExceptionType: message`` for an exception raised while importing."""
    if isinstance(error, SyntaxError):
        where = location if path is not None else (error.filename or location)
        return BotFileError(f"{where}:{error.lineno}: SyntaxError: {error.msg}")
    where = location
    frames = traceback.extract_tb(error.__traceback__)
    if path is not None:
        own = [f for f in frames if Path(f.filename).resolve() == path.resolve()]
        if own:
            where = f"{location}:{own[-1].lineno}"
    elif real := [f for f in frames if not f.filename.startswith("<")]:  # not importlib's
        where = f"{real[-1].filename}:{real[-1].lineno}"
    return BotFileError(f"{where}: {type(error).__name__}: {error}")
