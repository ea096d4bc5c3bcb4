"""Keep API keys, carrier secrets and auth tokens out of everything voicebot writes.

Keys reach voicebot as ``SecretStr`` fields (their ``repr`` is ``'**********'``) and as
environment variables, which end up as plain strings inside Pipecat's services and vendor
SDKs. Any of those can put a key into a log line, an exception's text or a traceback's
variable dump, and from there into a file. So the values themselves are masked where text
leaves the process:

- ``register(value)`` / ``register_env(env)`` / ``protect(bot, env)``: the secret values to
  mask. ``Bot.check`` (before any session) registers the bot's ``SecretStr`` fields and every
  environment variable whose name says it is a secret (``*_API_KEY``, ``*_TOKEN``,
  ``*_SECRET``, ``*PASSWORD*``, ``*_AUTH*``, ...), and installs the log patcher.
- ``redact(text)``: every registered value, and anything shaped like a credential
  (``Bearer ...``, ``?api_key=...``, ``user:password@`` in a URL, ``sk-...`` keys), becomes
  ``***``.
- ``install()``: a loguru patcher (process-wide: Pipecat logs through loguru) that redacts
  each record's message and ``extra``, and turns an attached exception into redacted plain
  text (loguru's ``diagnose`` would otherwise print the values of the traceback's variables,
  keys included); and a stdlib ``logging`` record factory that does the same for the vendor
  SDKs (openai, httpx, websockets log there).
"""

from __future__ import annotations

import re
import threading
import traceback
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, SecretStr

if TYPE_CHECKING:
    from loguru import Record

MASK = "***"

#: Shorter values are not masked: "1", "true" or "en" would blank out ordinary words.
MIN_SECRET_CHARS = 8

#: Environment variable names whose values are secrets.
SECRET_NAME = re.compile(
    r"(API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|SIGNING_?KEY|_KEY$|TOKEN|SECRET|PASSWORD|PASSWD"
    r"|(^|_)AUTH($|_)|CREDENTIAL|SIGNATURE)",
    re.IGNORECASE,
)

#: Credentials recognised by their shape, for values nobody registered. Group 1 is kept.
_SHAPES = (
    # An Authorization header's credentials, and a bare "Bearer <token>"
    re.compile(r"(?i)\b(authorization['\"]?\s*[:=]\s*['\"]?(?:\w+\s+)?)[^\s'\",]{8,}"),
    re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    # A query parameter or key=value pair naming a credential (not "max_tokens=80")
    re.compile(
        r"(?i)(?<![\w-])((?:api[_-]?key|apikey|access[_-]?token|auth[_-]?token|token|secret"
        r"|password|passwd|signature|sig|key)=)[^\s&'\",;)}\]]{4,}"
    ),
    # The password of a URL: scheme://user:password@host
    re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*:)[^/\s@]+(?=@)"),
    # Vendor key prefixes (OpenAI "sk-...", Cartesia "sk_car_...")
    re.compile(r"\b()sk[-_][A-Za-z0-9_-]{16,}"),
)

_lock = threading.Lock()
_secrets: frozenset[str] = frozenset()
_pattern: re.Pattern[str] | None = None
_installed = False


def register(value: str | SecretStr | None) -> None:
    """Mask ``value`` wherever it appears from now on (short or empty values are ignored)."""
    global _secrets, _pattern
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    if not text or len(text) < MIN_SECRET_CHARS or text in _secrets:
        return
    with _lock:
        _secrets = _secrets | {text}
        ordered = sorted(_secrets, key=len, reverse=True)  # the longest of overlapping wins
        _pattern = re.compile("|".join(re.escape(s) for s in ordered))


def is_secret_name(name: str) -> bool:
    """Whether an environment variable called ``name`` holds a secret."""
    return SECRET_NAME.search(name) is not None


def register_env(env: Mapping[str, str], names: Iterable[str] = ()) -> None:
    """Mask the values of ``names`` and of every variable whose name looks secret."""
    wanted = set(names)
    for name, value in env.items():
        if name in wanted or is_secret_name(name):
            register(value)


def register_model(model: Any) -> None:
    """Mask every ``SecretStr`` in a pydantic model and the models it holds."""
    seen: set[int] = set()

    def walk(value: Any) -> None:
        if id(value) in seen:
            return
        seen.add(id(value))
        if isinstance(value, SecretStr):
            register(value)
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name, None))
        elif isinstance(value, Mapping):
            for item in value.values():
                walk(item)
        elif isinstance(value, (list, tuple, set, frozenset)):
            for item in value:
                walk(item)

    walk(model)


def protect(spec: Any, env: Mapping[str, str], names: Iterable[str] = ()) -> None:
    """What ``Bot.check`` calls: register the spec's and the environment's secrets (plus
    ``names``, e.g. the providers' ``api_key_env``), and install the log patcher."""
    register_model(spec)
    register_env(env, names)
    install()


def redact(text: str) -> str:
    """``text`` with every registered secret and credential-shaped string as ``***``."""
    if not text:
        return text
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    for shape in _SHAPES:
        text = shape.sub(lambda m: m.group(1) + MASK, text)
    return text


def redact_value(value: Any) -> Any:
    """A JSON-like value (dicts, lists, strings) with every string redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {k: redact_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(v) for v in value]
    return value


def patch_record(record: Record) -> None:
    """The loguru patcher: redact the message and ``extra``; an exception becomes redacted
    plain text after the message (no variable values), and the record carries none."""
    record["message"] = redact(record["message"])
    extra = record["extra"]
    for key, value in list(extra.items()):
        if isinstance(value, str):
            extra[key] = redact(value)
    exception = record["exception"]
    if exception is not None and exception.value is not None:
        text = "".join(
            traceback.format_exception(type(exception.value), exception.value, exception.traceback)
        )
        record["message"] = f"{record['message']}\n{redact(text).rstrip()}"
        record["exception"] = None


def install() -> None:
    """Install the redacting patcher on loguru's core (once per process).

    It replaces a patcher set with ``logger.configure(patcher=...)`` before; an application
    that sets its own afterwards should call ``patch_record`` from it."""
    global _installed
    from loguru import logger

    with _lock:
        if _installed:
            return
        _installed = True
    logger.configure(patcher=patch_record)
    _install_stdlib()


def _install_stdlib() -> None:
    """Mask stdlib ``logging`` records too, at creation (whatever handler prints them): the
    vendor SDKs log there, not through loguru (``websockets`` logs every handshake header at
    DEBUG, ``Authorization`` included; httpx logs request URLs)."""
    import logging

    previous = logging.getLogRecordFactory()

    def masked_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed format: the handler reports it as logging does
            return record
        clean = redact(message)
        if clean != message:
            # Mask inside the arguments first: some formatters unpack ``args`` themselves
            # (uvicorn's access log reads a 5-tuple), so they must keep their shape.
            if isinstance(record.args, tuple):
                record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
            if isinstance(record.msg, str):
                record.msg = redact(record.msg)
            try:
                still = record.getMessage() != clean
            except Exception:
                still = True
            if still:  # the secret spans the format and its arguments
                record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            # Formatters use exc_text when set: the traceback as masked text.
            text = "".join(traceback.format_exception(*record.exc_info))
            record.exc_text = redact(text).rstrip("\n")
        return record

    logging.setLogRecordFactory(masked_record)


def mask_number(value: str | None) -> str:
    """A caller's phone number or SIP address as a log line shows it: its last two
    characters, enough to tell calls apart in a log, not to identify the caller (a log is
    kept longer and read by more people than the call's own records). ``+15551234567`` →
    ``**********67``; ``sip:+15551234567@pbx`` → ``sip:**********67@pbx``."""
    if not value:
        return "unknown"
    user, at, host = value.partition("@")
    scheme = ""
    if user.lower().startswith(("sip:", "sips:", "tel:")):
        head, _, user = user.partition(":")
        scheme = head + ":"
    keep = user[-2:] if len(user) > 4 else ""
    return f"{scheme}{'*' * (len(user) - len(keep))}{keep}{at}{host}"


def registered_count() -> int:
    """How many secret values are masked (for tests and diagnostics; never the values)."""
    return len(_secrets)
