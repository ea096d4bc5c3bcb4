"""Running one tool call: validate the model's arguments, run the function with its timeout
and retries, and shape what it returns into a result the model can read.

Never raises (but for cancellation): bad model output and failing tools become error results,
so nothing a tool or the model does takes the session down. ``ToolCaller``
(``voicebot.tools.caller``) registers this as each tool's Pipecat handler.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any, Literal

from loguru import logger
from pydantic import BaseModel

from voicebot.redaction import redact
from voicebot.tools.tool import Tool, ToolArgumentsError

#: How a call ended, as the tool caller saw it.
Outcome = Literal["ok", "invalid_arguments", "failed", "timeout"]

#: What a tool result of ``None`` becomes: Pipecat's own word for "done, nothing to say".
#: (Pipecat runs the model again only for a truthy result; see ``as_result``.)
COMPLETED = "COMPLETED"

#: Seconds between retries of an idempotent tool: ``RETRY_DELAY_SECS * attempt``.
RETRY_DELAY_SECS = 0.2

# ---- running one call ------------------------------------------------------------------------


def as_result(value: Any, tool_name: str = "tool") -> Any:
    """A function's return value as the result Pipecat gets.

    Pipecat runs the model again after a call only when the result is truthy, so a tool
    answering ``False``, ``0`` or ``[]`` would leave the caller in silence: such values are
    wrapped as ``{"result": value}``, and ``None`` becomes ``"COMPLETED"``. The context
    holds JSON: a value that is not (a ``datetime``, a set, a pydantic model, a dataclass)
    is converted (``json_safe``), or the model's answer would be lost to an encoding error.
    """
    if value is None:
        return COMPLETED
    value = json_safe(value, tool_name)
    if not value:
        return {"result": value}
    return value


def json_safe(value: Any, tool_name: str) -> Any:
    """``value`` if JSON can hold it; else its JSON form (a model's or dataclass's fields,
    a set's items, anything else as its text), with a warning naming the tool."""
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        pass

    def text(item: Any) -> Any:
        if isinstance(item, BaseModel):
            return item.model_dump(mode="json")
        if dataclasses.is_dataclass(item) and not isinstance(item, type):
            return dataclasses.asdict(item)
        if isinstance(item, (set, frozenset)):
            return sorted(item, key=str)
        if isinstance(item, bytes):
            return item.decode("utf-8", errors="replace")
        return str(item)

    try:
        converted = json.loads(json.dumps(value, default=text))
    except (TypeError, ValueError):  # a cycle, or a conversion that is not JSON either
        converted = str(value)
    logger.warning(
        f"tool {tool_name} returned {type(value).__name__} that is not JSON; the model gets "
        "it converted (return str, numbers, lists and dicts of them to choose the form)"
    )
    return converted


async def run_tool(tool: Tool, raw_arguments: Any) -> tuple[Any, Outcome]:
    """Validate the model's arguments and run ``tool`` with its timeout and retries.

    Never raises (but for cancellation): every failure is a result the model can read.
    """
    try:
        kwargs = tool.validate_arguments(raw_arguments)
    except ToolArgumentsError as e:
        logger.warning(f"tool {tool.name}: model sent invalid arguments: {e}")
        return (
            {
                "error": f"invalid arguments for {tool.name}: {e}; call it again with "
                "arguments that match its schema"
            },
            "invalid_arguments",
        )
    attempts = 1 + tool.retries
    error: Exception | None = None
    for attempt in range(1, attempts + 1):
        deadline = asyncio.timeout(tool.timeout_secs)
        try:
            async with deadline:
                return as_result(await tool.call(kwargs), tool.name), "ok"
        except asyncio.CancelledError as e:
            task = asyncio.current_task()
            if task is None or task.cancelling():
                raise  # the call is being cancelled (the caller spoke, the session ended)
            error = RuntimeError(f"raised CancelledError({e})")  # itself: a failure
            logger.error(f"tool {tool.name} raised CancelledError without being cancelled")
        except TimeoutError as e:
            if not deadline.expired():  # the tool raised TimeoutError itself
                error = e
                logger.opt(exception=e).error(f"tool {tool.name} raised {type(e).__name__}: {e}")
            else:
                error = None
                logger.warning(
                    f"tool {tool.name} timed out after {tool.timeout_secs:g}s "
                    f"(attempt {attempt} of {attempts})"
                )
        except Exception as e:
            error = e
            logger.opt(exception=e).error(f"tool {tool.name} raised {type(e).__name__}: {e}")
        if attempt < attempts:
            logger.info(f"tool {tool.name}: retrying (attempt {attempt + 1} of {attempts})")
            await asyncio.sleep(RETRY_DELAY_SECS * attempt)
    tried = f" ({attempts} attempts)" if attempts > 1 else ""
    if error is None:
        return (
            {
                "error": f"{tool.name} timed out after {tool.timeout_secs:g} seconds{tried} "
                "and was stopped; it may or may not have taken effect. The caller has "
                "been told it did not work: offer to try again or another way, "
                "without apologising again."
            },
            "timeout",
        )
    # The exception's text goes to the LLM vendor and the turn records: no key in it.
    return {"error": redact(f"{tool.name} failed: {error}")}, "failed"
