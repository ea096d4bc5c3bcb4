"""Tools written or behaving in ways no call can survive: refused when defined, or a failure
the model can read when run; never a hang, a process exit or a lost answer."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import functools
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from voicebot import ToolDefinitionError, tool
from voicebot.tools.calls import run_tool

# ---- refused when defined ---------------------------------------------------------------


class Opaque:
    pass


def positional_only(x: int, /) -> str:
    return "x"


def underscored(_x: int) -> str:
    return "x"


def clashes(model_config: str) -> str:
    return "x"


def wrong_default(x: int = "nope") -> str:  # type: ignore[assignment]
    return "x"


def custom_class(thing: Opaque) -> str:
    return "x"


def a_callable(f: Callable[[int], int]) -> str:
    return "x"


def generator(n: int) -> Iterator[int]:
    yield n


@pytest.mark.parametrize(
    ("fn", "says"),
    [
        (positional_only, "positional-only"),
        (underscored, "'_x'"),
        (clashes, "'model_config'"),
        (wrong_default, "default 'nope'"),
        (custom_class, "cannot be described"),
        (a_callable, "cannot be described"),
        (generator, "generator"),
    ],
)
def test_a_function_no_call_could_use_is_refused_naming_the_problem(
    fn: Callable[..., Any], says: str
) -> None:
    with pytest.raises(ToolDefinitionError, match=says):
        tool(fn)


def test_names_vendors_refuse_are_refused_when_defined() -> None:
    def f(x: int) -> str:
        """F."""
        return "x"

    for bad in ("look up", "x" * 65, "", "   "):
        with pytest.raises(ToolDefinitionError):
            tool(name=bad)(f)
    with pytest.raises(ToolDefinitionError, match="no name"):
        tool(lambda x: x)
    with pytest.raises(ToolDefinitionError, match="already a tool"):
        tool(tool(f))
    with pytest.raises(ToolDefinitionError, match="number of seconds"):
        tool(timeout_secs="5")(f)  # type: ignore[arg-type]


def test_a_partial_is_a_tool_named_and_described_by_its_function() -> None:
    def book(day: str, people: int) -> str:
        """Book a table."""
        return f"{day} for {people}"

    t = tool(functools.partial(book, people=2))
    assert (t.name, t.description) == ("book", "Book a table.")
    assert list(t.parameters_schema["properties"]) == ["day", "people"]


def test_a_parameter_named_like_model_number_is_fine() -> None:
    @tool
    def lookup(model_number: str) -> str:
        """Look up a boiler."""
        return model_number

    assert lookup.parameters_schema["required"] == ["model_number"]


# ---- failures the model can read ---------------------------------------------------------


async def test_a_tool_calling_sys_exit_fails_the_call_not_the_process() -> None:
    @tool
    def leave(code: int) -> str:
        """Leave."""
        sys.exit(code)

    @tool
    async def leave_async(code: int) -> str:
        """Leave."""
        sys.exit(code)

    for t in (leave, leave_async):
        result, outcome = await run_tool(t, {"code": 0})
        assert outcome == "failed", result
        assert "called sys.exit(0)" in result["error"]


async def test_a_tool_raising_cancelled_error_itself_fails_but_a_real_cancel_still_cancels() -> (
    None
):
    @tool
    async def odd() -> str:
        """Odd."""
        raise asyncio.CancelledError

    result, outcome = await run_tool(odd, {})
    assert outcome == "failed" and "CancelledError" in result["error"]

    started = asyncio.Event()

    @tool
    async def slow() -> str:
        """Slow."""
        started.set()
        await asyncio.Event().wait()
        return "never"

    task = asyncio.ensure_future(run_tool(slow, {}))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_result_json_cannot_hold_reaches_the_model_converted() -> None:
    @dataclasses.dataclass
    class Slot:
        day: str

    @tool
    def when() -> dict[str, Any]:
        """When."""
        return {
            "at": datetime.datetime(2026, 12, 4, 9, 30),
            "tags": {"b", "a"},
            "slot": Slot("monday"),
            "raw": b"ok",
        }

    result, outcome = await run_tool(when, {})
    assert outcome == "ok"
    assert result == {
        "at": "2026-12-04 09:30:00",
        "tags": ["a", "b"],
        "slot": {"day": "monday"},
        "raw": "ok",
    }


async def test_a_stuck_sync_tool_times_out_in_a_daemon_thread() -> None:
    release = threading.Event()
    seen: list[threading.Thread] = []

    @tool(timeout_secs=0.05)
    def stuck() -> str:
        """Stuck."""
        seen.append(threading.current_thread())
        release.wait()
        return "late"

    try:
        result, outcome = await run_tool(stuck, {})
        assert outcome == "timeout" and "timed out" in result["error"]
        assert seen and seen[0].daemon
    finally:
        release.set()


def test_a_process_whose_tool_is_stuck_forever_still_exits() -> None:
    """The default thread pool would be joined at exit and wait for the tool for good."""
    script = textwrap.dedent(
        """
        import asyncio, threading
        from voicebot import tool
        from voicebot.tools.calls import run_tool

        @tool(timeout_secs=0.05)
        def stuck() -> str:
            '''Stuck.'''
            threading.Event().wait()
            return "never"

        print(asyncio.run(run_tool(stuck, {}))[1])
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "timeout"
