"""Reading a turns JSONL for ``voicebot report``: each line a turn record whose every field
the picture draws has the type it needs, or one ``ConfigError`` naming the file, the line
and the field (a wrong type used to crash the drawing, a huge number to hang it)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from voicebot.errors import ConfigError
from voicebot.metrics.records import TurnRecord


def load_turns(path: str | Path) -> list[TurnRecord]:
    """``TurnRecord``s from a JSONL file (``voicebot run --turns``, ``Bot(turns_jsonl=)``)."""
    p = Path(path)
    if not p.is_file():  # checked before reading: a FIFO or a device would hang the read
        if p.is_dir():
            what = "is a directory, not a turns JSONL file"
        else:
            what = "not a regular file" if p.exists() else "no such file"
        raise ConfigError(f"{path}: {what}")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"{path}: not a text JSONL file (give the file from `voicebot run --turns` or "
            "Bot(turns_jsonl=))"
        ) from e
    except OSError as e:
        raise ConfigError(f"{path}: cannot be read ({e.strerror or e})") from e
    turns = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError as e:
            raise ConfigError(f"{path}:{n}: not a turn record ({e})") from e
        if not isinstance(data, dict):
            kind = _json_kind(data)
            raise ConfigError(f"{path}:{n}: a {kind}, not a turn record (a JSON object)")
        check_fields(data, f"{path}:{n}")
        try:
            turns.append(TurnRecord.from_dict(data))
        except (ValueError, TypeError, AttributeError) as e:
            raise ConfigError(f"{path}:{n}: not a turn record ({e})") from e
    return turns


def _json_kind(value: object) -> str:
    kinds = {list: "JSON array", str: "JSON string", bool: "JSON true/false", dict: "JSON object"}
    if value is None:
        return "JSON null"
    if isinstance(value, float) and not math.isfinite(value):
        return "non-finite number"  # NaN, Infinity: Python's json reads them
    return kinds.get(type(value), "JSON number")


#: The fields of a turn record the report reads, and what each must be.
_TEXT_FIELDS = ("user_text", "bot_text", "session_id", "said_text")
_SECS_FIELDS = (
    "voice_to_voice_secs",
    "caller_voice_to_voice_secs",
    "user_started_at",
    "user_stopped_at",
    "bot_started_at",
    "bot_stopped_at",
    "completed_at",
)
#: The longest a turn's latency or a stage may be drawn as: beyond, it is not a measurement
#: (and a 1e300 would draw an axis no one can read).
MAX_TURN_SECS = 86400.0
_WITHIN = f"a number of seconds within ±{MAX_TURN_SECS:g}"
_SPAN_FIELDS = {"key": "a string", "start_secs": _WITHIN, "secs": _WITHIN}
#: Of ``_SECS_FIELDS``, those holding a duration (the rest are clock readings).
_DURATIONS = ("voice_to_voice_secs", "caller_voice_to_voice_secs")


def _is_number(value: object, bound: float = math.inf) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and abs(value) <= bound
    )


def _wrong_type(where: str, name: str, value: object, expected: str) -> ConfigError:
    shown = json.dumps(value)
    shown = shown if len(shown) <= 40 else shown[:39] + "…"
    return ConfigError(f"{where}: {name!r} is a {_json_kind(value)} ({shown}); expected {expected}")


def check_fields(data: dict[str, Any], where: str) -> None:
    """Refuse a record whose fields the report draws have the wrong JSON type (a string of
    seconds, spans that are not objects, NaN): one line naming the line and the field,
    rather than a crash, or a hang over an endless axis, while drawing."""

    def refuse(name: str, value: object, expected: str) -> ConfigError:
        return _wrong_type(where, name, value, expected)

    if "index" in data and (not isinstance(data["index"], int) or isinstance(data["index"], bool)):
        raise refuse("index", data["index"], "a whole number")
    for name in _TEXT_FIELDS:
        if name in data and not isinstance(data[name], str):
            raise refuse(name, data[name], "a string")
    if "interrupted" in data and not isinstance(data["interrupted"], bool):
        raise refuse("interrupted", data["interrupted"], "true or false")
    day = MAX_TURN_SECS
    for name in _SECS_FIELDS:
        bound = day if name in _DURATIONS else math.inf
        if data.get(name) is not None and not _is_number(data[name], bound):
            expected = f"{_WITHIN} or null" if bound == day else "a number or null"
            raise refuse(name, data[name], expected)
    stages = data.get("stages")
    if stages is not None:
        if not isinstance(stages, dict):
            raise refuse("stages", stages, 'an object of seconds, e.g. {"transcription": 0.2}')
        for key, secs in stages.items():
            if not _is_number(secs, day):
                raise refuse(f"stages.{key}", secs, _WITHIN)
    spans = data.get("spans")
    if spans is not None:
        if not isinstance(spans, list):
            raise refuse("spans", spans, "an array of spans (objects)")
        for i, span in enumerate(spans):
            if not isinstance(span, dict):
                raise refuse(f"spans[{i}]", span, 'an object with "key", "start_secs", "secs"')
            for name, expected in _SPAN_FIELDS.items():
                value = span.get(name)
                good = isinstance(value, str) if name == "key" else _is_number(value, day)
                if not good:
                    raise refuse(f"spans[{i}].{name}", value, expected)
            if "owner" in span and not isinstance(span["owner"], str):
                raise refuse(f"spans[{i}].owner", span["owner"], "a string")
    for name in ("tool_calls", "failovers"):
        items = data.get(name)
        if items is not None and not (
            isinstance(items, list) and all(isinstance(c, dict) for c in items)
        ):
            raise refuse(name, items, "an array of objects")
    for i, call in enumerate(data.get("tool_calls") or []):
        _check_object(call, f"tool_calls[{i}]", "a tool call", _TOOL_CALL_FIELDS, where)
    retrieval = data.get("retrieval")
    if retrieval is not None and not isinstance(retrieval, dict):
        raise refuse("retrieval", retrieval, "an object or null")
    if retrieval is not None:
        _check_object(retrieval, "retrieval", "a retrieval", _RETRIEVAL_FIELDS, where)


def _is_seconds(value: object) -> bool:
    return _is_number(value, MAX_TURN_SECS)


def _is_strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(s, str) for s in value)


#: What each field of a tool call (``ToolCallRecord``) and of a retrieval
#: (``RetrievalRecord``) must be: (required, what is expected, the check; None: any JSON).
_Field = tuple[bool, str, Callable[[object], bool] | None]
_TOOL_CALL_FIELDS: dict[str, _Field] = {
    "name": (True, "a string", lambda v: isinstance(v, str)),
    "call_id": (True, "a string", lambda v: isinstance(v, str)),
    "arguments": (True, "any JSON value", None),
    "result": (False, "any JSON value", None),
    "finished": (False, "true or false", lambda v: isinstance(v, bool)),
}
_RETRIEVAL_FIELDS: dict[str, _Field] = {
    "query": (True, "a string", lambda v: isinstance(v, str)),
    "in_time": (True, "true or false", lambda v: isinstance(v, bool)),
    "waited_secs": (True, _WITHIN, _is_seconds),
    "secs": (False, f"{_WITHIN} or null", lambda v: v is None or _is_seconds(v)),
    "sources": (False, "an array of strings", _is_strings),
    "error": (False, "a string or null", lambda v: v is None or isinstance(v, str)),
}


def _check_object(
    obj: dict[str, Any], name: str, what: str, fields: dict[str, _Field], where: str
) -> None:
    """Refuse a tool call or a retrieval whose fields are missing, unknown or of the wrong
    type, naming the field (``tool_calls[1].name``): before, the line said only that it was
    not a turn record, with the dataclass's complaint, or loaded a name that was a number."""
    for key in obj:
        if key not in fields:
            raise ConfigError(
                f"{where}: {f'{name}.{key}'!r} is not a field of {what} (its fields: "
                f"{', '.join(fields)})"
            )
    for key, (required, expected, good) in fields.items():
        field = f"{name}.{key}"
        if key not in obj:
            if required:
                raise ConfigError(f"{where}: {field!r} is missing; expected {expected}")
        elif good is not None and not good(obj[key]):
            raise _wrong_type(where, field, obj[key], expected)
