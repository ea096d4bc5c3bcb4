"""``@tool``: a plain Python function becomes something the LLM can call.

The JSON schema comes from the type hints (through pydantic) and the description from the
docstring, so the function stays the single source of truth. Arguments from the model are
validated before the function runs; bad ones go back to the model as an error it can read.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, get_type_hints, overload

from pydantic import BaseModel, ValidationError, create_model

from voicebot.errors import ToolDefinitionError


@dataclass(frozen=True)
class Tool:
    """A callable the LLM may invoke, with its validated argument model."""

    name: str
    description: str
    function: Callable[..., Any]
    arguments: type[BaseModel]
    timeout_secs: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def parameters_schema(self) -> dict[str, Any]:
        schema = self.arguments.model_json_schema()
        return {
            "properties": schema.get("properties", {}),
            "required": schema.get("required", []),
        }

    def to_function_schema(self) -> Any:
        from pipecat.adapters.llm.schemas.function_schema import FunctionSchema

        params = self.parameters_schema
        return FunctionSchema(
            name=self.name,
            description=self.description,
            properties=params["properties"],
            required=params["required"],
        )

    def validate_arguments(self, raw: Any) -> dict[str, Any]:
        """Arguments as the function expects them; raises ``ToolArgumentsError``."""
        if not isinstance(raw, dict):
            raise ToolArgumentsError(f"arguments must be a JSON object, got {type(raw).__name__}")
        try:
            model = self.arguments.model_validate(raw)
        except ValidationError as e:
            problems = "; ".join(
                f"{'.'.join(map(str, err['loc'])) or 'arguments'}: {err['msg']}"
                for err in e.errors()
            )
            raise ToolArgumentsError(problems) from e
        return {name: getattr(model, name) for name in type(model).model_fields}

    async def invoke(self, raw_arguments: Any) -> Any:
        """Validate and run; sync functions run in a thread so they never block the loop."""
        kwargs = self.validate_arguments(raw_arguments)
        if inspect.iscoroutinefunction(self.function):
            result: Any = await self.function(**kwargs)
        else:
            result = await asyncio.to_thread(self.function, **kwargs)
            if inspect.isawaitable(result):
                result = await result
        return result


class ToolArgumentsError(ValueError):
    """The model called a tool with arguments that do not fit its schema."""


def _description(fn: Callable[..., Any]) -> str:
    doc = inspect.getdoc(fn) or ""
    return doc.split("\n\n", 1)[0].replace("\n", " ").strip() or fn.__name__.replace("_", " ")


def _arguments_model(fn: Callable[..., Any], name: str) -> type[BaseModel]:
    try:
        hints = get_type_hints(fn)
    except Exception as e:
        raise ToolDefinitionError(f"tool {name!r}: cannot read its type hints: {e}") from e
    fields: dict[str, Any] = {}
    for pname, param in inspect.signature(fn).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ToolDefinitionError(
                f"tool {name!r}: *args/**kwargs cannot be described to an LLM"
            )
        if pname not in hints:
            raise ToolDefinitionError(
                f"tool {name!r}: parameter {pname!r} needs a type hint so the LLM knows "
                "what to pass"
            )
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[pname] = (hints[pname], default)
    return create_model(f"{name}_arguments", **fields)


@overload
def tool(fn: Callable[..., Any], /) -> Tool: ...
@overload
def tool(
    *, name: str | None = None, description: str | None = None, timeout_secs: float | None = None
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout_secs: float | None = None,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Turn a sync or async function into a ``Tool``; usable bare or with options."""

    def make(f: Callable[..., Any]) -> Tool:
        tool_name = name or f.__name__
        return Tool(
            name=tool_name,
            description=description or _description(f),
            function=f,
            arguments=_arguments_model(f, tool_name),
            timeout_secs=timeout_secs,
        )

    return make(fn) if fn is not None else make


def as_tool(obj: Tool | Callable[..., Any] | Callable[..., Awaitable[Any]]) -> Tool:
    """Accept a ``Tool`` or a bare function in ``Bot(tools=[...])``."""
    if isinstance(obj, Tool):
        return obj
    if callable(obj):
        return tool(obj)
    raise ToolDefinitionError(f"tools must be functions or @tool objects, not {type(obj).__name__}")
