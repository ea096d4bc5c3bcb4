"""``@tool``: a plain Python function becomes something the LLM can call.

The JSON schema comes from the type hints (through pydantic) and the description from the
docstring, so the function stays the single source of truth. Arguments from the model are
validated before the function runs; bad ones go back to the model as an error it can read.

How a call runs is part of the tool too: whether the model waits for it (``policy``), what
the bot says meanwhile (``ack``, ``filler``, ``apology``), how long it may take
(``timeout_secs``) and whether a failed call is tried again (``retries``, only for
``idempotent`` tools). ``voicebot.tools.caller`` carries these out.
"""

from __future__ import annotations

import functools
import inspect
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_type_hints, overload

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, create_model

from voicebot.errors import ToolDefinitionError
from voicebot.tools.daemon_thread import ToolExited, in_daemon_thread

if TYPE_CHECKING:
    from pipecat.adapters.llm.schemas.function_schema import FunctionSchema

#: ``"blocking"``: the model waits for the result before it answers. ``"background"``: the
#: call runs while the conversation goes on; its result is spoken when it arrives.
Policy = Literal["blocking", "background"]
POLICIES: tuple[str, ...] = ("blocking", "background")

DEFAULT_FILLER = "One moment."
DEFAULT_FILLER_AFTER_SECS = 0.7
DEFAULT_APOLOGY = "Sorry, that didn't work."

#: The key under which tool-call arguments that were not valid JSON reach a handler
#: (``{UNPARSED_ARGUMENTS: "<what the model sent>"}``), so the call is answered with an
#: error the model can read instead of disappearing.
UNPARSED_ARGUMENTS = "__unparsed_arguments__"


def parse_arguments(raw: str) -> Any:
    """A tool call's arguments as the model streamed them, decoded from JSON.

    Empty text is ``{}`` (as Pipecat reads it); text that is not JSON comes back as
    ``{UNPARSED_ARGUMENTS: raw}``, which ``Tool.validate_arguments`` rejects with a message
    for the model.
    """
    try:
        return json.loads(raw or "{}")
    except json.JSONDecodeError:
        return {UNPARSED_ARGUMENTS: raw}


@dataclass(frozen=True)
class Tool:
    """A callable the LLM may invoke, with its validated argument model and how it runs.

    - ``policy``: ``"blocking"`` (the model waits for the result) or ``"background"`` (the
      bot goes on talking; the result is put into the context and spoken when the bot and
      the caller are quiet).
    - ``ack``: said as soon as the call starts. A background tool without one lets the
      model speak over Pipecat's "still running" placeholder instead.
    - ``timeout_secs``: per attempt; a call that runs out gets an apology spoken and an
      error result the model can use.
    - ``retries``: further attempts after an exception or a timeout; only for
      ``idempotent`` tools, since a retried call may have had its effect already.
    - ``cancel_on_interruption``: whether the caller speaking cancels a running call
      (default: yes for blocking tools; a background tool always runs to the end).
    - ``cancellable_by_llm``: offer the model a ``cancel_<name>`` tool for running calls
      (Pipecat's; for calls that are not cancelled on interruption).
    - ``filler``: said once when a blocking call is still running after
      ``filler_after_secs``, unless the bot or the caller is talking (``None``: never).
    - ``apology``: said when the call fails or times out (``None``: leave it to the model).
    - ``examples``: a few things callers say to get this tool used ("where's my parcel").
      The offline router compares a request with them as well as with the description,
      which is how it tells apart tools that share a topic; cloud models ignore them.
    """

    name: str
    description: str
    function: Callable[..., Any]
    arguments: type[BaseModel]
    timeout_secs: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    policy: Policy = "blocking"
    ack: str | None = None
    retries: int = 0
    idempotent: bool = False
    cancel_on_interruption: bool | None = None
    cancellable_by_llm: bool = False
    filler: str | None = DEFAULT_FILLER
    filler_after_secs: float = DEFAULT_FILLER_AFTER_SECS
    apology: str | None = DEFAULT_APOLOGY
    examples: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        def refuse(problem: str) -> ToolDefinitionError:
            return ToolDefinitionError(f"tool {self.name!r}: {problem}")

        if self.policy not in POLICIES:
            raise refuse(f"policy must be 'blocking' or 'background', not {self.policy!r}")
        for option in ("timeout_secs", "filler_after_secs"):
            value = getattr(self, option)
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if value is not None and not number:
                raise refuse(f"{option} must be a number of seconds (got {value!r})")
        if self.timeout_secs is not None and not self.timeout_secs > 0:
            raise refuse(f"timeout_secs must be more than 0 (got {self.timeout_secs!r})")
        if not isinstance(self.retries, int) or self.retries < 0:
            raise refuse(f"retries must be a whole number of 0 or more (got {self.retries!r})")
        if self.retries and not self.idempotent:
            raise refuse(
                f"retries={self.retries} needs idempotent=True: a call that failed or timed "
                "out may already have had its effect, so only a tool that can safely run "
                "twice (a lookup, an upsert) may be retried; pass idempotent=True or drop "
                "retries"
            )
        if self.policy == "background" and self.cancel_on_interruption:
            raise refuse(
                "a background tool keeps running while the conversation goes on, so the "
                "caller speaking cannot cancel it: drop cancel_on_interruption=True, use "
                "policy='blocking' for a call the caller can interrupt, or "
                "cancellable_by_llm=True to let the model cancel it when asked"
            )
        if self.cancellable_by_llm and self.interruptible:
            raise refuse(
                "cancellable_by_llm=True needs a call that outlives interruptions: the model "
                "never runs while a blocking, interruptible call holds it; use "
                "policy='background' or cancel_on_interruption=False"
            )
        if not self.filler_after_secs >= 0:
            raise refuse(f"filler_after_secs must be 0 or more (got {self.filler_after_secs!r})")
        for option in ("ack", "filler", "apology"):
            text = getattr(self, option)
            if text is not None and (not isinstance(text, str) or not text.strip()):
                raise refuse(f"{option} must be something to say, or None (got {text!r})")
        if not isinstance(self.examples, (list, tuple)) or not all(
            isinstance(e, str) and e.strip() for e in self.examples
        ):
            raise refuse(
                "examples must be a list of phrases callers say, e.g. "
                f'examples=["where\'s my parcel"] (got {self.examples!r})'
            )
        object.__setattr__(self, "examples", tuple(e.strip() for e in self.examples))

    @property
    def interruptible(self) -> bool:
        """Whether the caller speaking cancels a running call (Pipecat's
        ``cancel_on_interruption``)."""
        if self.cancel_on_interruption is not None:
            return self.cancel_on_interruption
        return self.policy == "blocking"

    @property
    def parameters_schema(self) -> dict[str, Any]:
        schema = self.arguments.model_json_schema()
        return {
            "properties": schema.get("properties", {}),
            "required": schema.get("required", []),
        }

    def to_function_schema(self) -> FunctionSchema:
        from pipecat.adapters.llm.schemas.function_schema import FunctionSchema

        params = self.parameters_schema
        schema = FunctionSchema(
            name=self.name,
            description=self.description,
            properties=params["properties"],
            required=params["required"],
        )
        # Read by the offline router (ToolSpec.from_function_schema); Pipecat's adapters
        # send only name, description and parameters to cloud models.
        schema.examples = self.examples  # type: ignore[attr-defined]
        return schema

    def validate_arguments(self, raw: Any) -> dict[str, Any]:
        """Arguments as the function expects them; raises ``ToolArgumentsError``."""
        if isinstance(raw, dict) and set(raw) == {UNPARSED_ARGUMENTS}:
            sent = str(raw[UNPARSED_ARGUMENTS])
            shown = sent if len(sent) <= 200 else sent[:200] + "..."
            raise ToolArgumentsError(f"the arguments are not valid JSON: {shown!r}")
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
        """Validate and run once; sync functions run in a thread so they never block the
        loop."""
        return await self.call(self.validate_arguments(raw_arguments))

    async def call(self, kwargs: dict[str, Any]) -> Any:
        """Run the function once with already validated arguments. A sync function runs in
        a daemon thread of its own: one stuck past its timeout (a socket with no timeout)
        is left behind, and never keeps the process from exiting once the call is over, as
        a thread of asyncio's default pool would. A function that calls ``sys.exit`` has
        failed (``ToolExited``): a tool does not end the process."""
        try:
            if inspect.iscoroutinefunction(self.function):
                result: Any = await self.function(**kwargs)
            else:
                result = await in_daemon_thread(self.function, kwargs, self.name)
                if inspect.isawaitable(result):
                    result = await result
        except SystemExit as e:
            raise ToolExited(f"{self.name} called sys.exit({e.code!r})") from None
        return result


class ToolArgumentsError(ValueError):
    """The model called a tool with arguments that do not fit its schema."""


def _description(fn: Callable[..., Any]) -> str:
    doc = inspect.getdoc(fn) or ""
    return doc.split("\n\n", 1)[0].replace("\n", " ").strip() or fn.__name__.replace("_", " ")


def _arguments_model(fn: Callable[..., Any], name: str) -> type[BaseModel]:
    """The arguments' pydantic model, refusing at definition time what no call could pass:
    a parameter the model cannot name or describe, a default of the wrong type."""
    target = fn.func if isinstance(fn, functools.partial) else fn
    try:
        hints = get_type_hints(target)
    except Exception as e:
        raise ToolDefinitionError(f"tool {name!r}: cannot read its type hints: {e}") from e
    fields: dict[str, Any] = {}
    for pname, param in inspect.signature(fn).parameters.items():

        def refuse(problem: str, pname: str = pname) -> ToolDefinitionError:
            return ToolDefinitionError(f"tool {name!r}, parameter {pname!r}: {problem}")

        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ToolDefinitionError(
                f"tool {name!r}: *args/**kwargs cannot be described to an LLM"
            )
        if param.kind is param.POSITIONAL_ONLY:
            raise refuse("positional-only (before '/'): the model passes arguments by name")
        if pname.startswith("_") or hasattr(BaseModel, pname):
            raise refuse("a name starting with '_' or a pydantic model's attribute cannot be used")
        if pname not in hints:
            raise ToolDefinitionError(
                f"tool {name!r}: parameter {pname!r} needs a type hint so the LLM knows "
                "what to pass"
            )
        try:
            adapter: TypeAdapter[Any] = TypeAdapter(hints[pname])
            adapter.json_schema()
        except Exception as e:
            raise refuse(
                f"its type {hints[pname]!r} cannot be described to an LLM as JSON ({e}); use "
                "str, int, float, bool, a Literal, lists or dicts of them, or a pydantic model"
            ) from None
        default = ... if param.default is inspect.Parameter.empty else param.default
        if default is not ...:
            try:
                adapter.validate_python(default)
            except ValidationError:
                raise refuse(f"its default {default!r} is not a {hints[pname]!r}") from None
        fields[pname] = (hints[pname], default)
    try:
        # "model_number" is a fine parameter: no pydantic namespace warning for it.
        config = ConfigDict(protected_namespaces=())
        return create_model(f"{name}_arguments", __config__=config, **fields)
    except Exception as e:
        raise ToolDefinitionError(f"tool {name!r}: its parameters cannot be described: {e}") from e


#: What LLM vendors accept as a function's name (OpenAI's rule; the strictest common one).
TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _checked_function(f: Any, name: str | None) -> tuple[Callable[..., Any], str]:
    """The function and the tool's name, or a ``ToolDefinitionError`` saying what to give."""
    if isinstance(f, Tool):
        raise ToolDefinitionError(f"{f.name!r} is already a tool: apply @tool once")
    if not callable(f):
        raise ToolDefinitionError(f"@tool needs a function, not {type(f).__name__}")
    target = f.func if isinstance(f, functools.partial) else f
    if inspect.isgeneratorfunction(target) or inspect.isasyncgenfunction(target):
        raise ToolDefinitionError(
            f"tool {getattr(target, '__name__', '?')!r}: a generator yields; a tool returns "
            "its result (return a list)"
        )
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ToolDefinitionError(f"@tool(name=...) must be a name, not {name!r}")
    tool_name = name if name is not None else getattr(target, "__name__", None)
    if not tool_name or tool_name == "<lambda>":
        raise ToolDefinitionError(
            f"@tool: {f!r} has no name to give the model; pass name=... (a lambda or a "
            "callable object has none)"
        )
    if not TOOL_NAME.fullmatch(tool_name):
        raise ToolDefinitionError(
            f"tool {tool_name!r}: a tool's name is 1-64 letters, digits, '_' or '-' (what LLM "
            "vendors accept); pass name=..."
        )
    return f, tool_name


@overload
def tool(fn: Callable[..., Any], /) -> Tool: ...
@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    policy: Policy = "blocking",
    ack: str | None = None,
    timeout_secs: float | None = None,
    retries: int = 0,
    idempotent: bool = False,
    cancel_on_interruption: bool | None = None,
    cancellable_by_llm: bool = False,
    filler: str | None = DEFAULT_FILLER,
    filler_after_secs: float = DEFAULT_FILLER_AFTER_SECS,
    apology: str | None = DEFAULT_APOLOGY,
    examples: list[str] | tuple[str, ...] = (),
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    policy: Policy = "blocking",
    ack: str | None = None,
    timeout_secs: float | None = None,
    retries: int = 0,
    idempotent: bool = False,
    cancel_on_interruption: bool | None = None,
    cancellable_by_llm: bool = False,
    filler: str | None = DEFAULT_FILLER,
    filler_after_secs: float = DEFAULT_FILLER_AFTER_SECS,
    apology: str | None = DEFAULT_APOLOGY,
    examples: list[str] | tuple[str, ...] = (),
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Turn a sync or async function into a ``Tool``; usable bare or with options (see
    ``Tool`` for what each does)::

        @tool(policy="background", ack="I'm booking that now.", timeout_secs=10)
        async def book(day: str, time: str) -> dict: ...
    """

    def make(given: Callable[..., Any]) -> Tool:
        f, tool_name = _checked_function(given, name)
        target = f.func if isinstance(f, functools.partial) else f
        return Tool(
            name=tool_name,
            description=description or _description(target),
            function=f,
            arguments=_arguments_model(f, tool_name),
            timeout_secs=timeout_secs,
            policy=policy,
            ack=ack,
            retries=retries,
            idempotent=idempotent,
            cancel_on_interruption=cancel_on_interruption,
            cancellable_by_llm=cancellable_by_llm,
            filler=filler,
            filler_after_secs=filler_after_secs,
            apology=apology,
            examples=examples,  # type: ignore[arg-type]  # a list is made a tuple, checked
        )

    return make(fn) if fn is not None else make


def as_tool(obj: Tool | Callable[..., Any] | Callable[..., Awaitable[Any]]) -> Tool:
    """Accept a ``Tool`` or a bare function in ``Bot(tools=[...])``."""
    if isinstance(obj, Tool):
        return obj
    if callable(obj):
        return tool(obj)
    raise ToolDefinitionError(f"tools must be functions or @tool objects, not {type(obj).__name__}")
