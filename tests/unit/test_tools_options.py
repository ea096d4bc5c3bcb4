"""@tool execution options, and running one call: timeouts, retries, bad arguments."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from loguru import logger

from voicebot import ToolDefinitionError, tool
from voicebot.tools import run_tool
from voicebot.tools.calls import COMPLETED, as_result
from voicebot.tools.tool import UNPARSED_ARGUMENTS, parse_arguments


@pytest.fixture
def logged() -> Iterator[list[str]]:
    """Messages logged at WARNING and above while the test runs."""
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(m.record["message"]), level="WARNING")
    yield lines
    logger.remove(sink)


def test_defaults_are_a_blocking_interruptible_call_with_a_filler_and_an_apology() -> None:
    @tool
    def lookup(code: str) -> str:
        """Look a code up."""
        return code

    assert lookup.policy == "blocking" and lookup.interruptible
    assert lookup.ack is None and lookup.timeout_secs is None and lookup.retries == 0
    assert lookup.filler == "One moment." and lookup.filler_after_secs == 0.7
    assert lookup.apology == "Sorry, that didn't work."


def test_background_tools_outlive_interruptions_and_blocking_ones_can_too() -> None:
    @tool(policy="background", ack="I'm booking that now.")
    def book(day: str) -> str:
        """Book."""
        return day

    @tool(cancel_on_interruption=False)
    def send(text: str) -> None:
        """Send."""

    assert book.policy == "background" and not book.interruptible and book.ack
    assert send.policy == "blocking" and not send.interruptible


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"retries": 2}, r"retries=2 needs idempotent=True"),
        ({"retries": -1, "idempotent": True}, r"retries must be a whole number"),
        ({"policy": "later"}, r"policy must be 'blocking' or 'background'"),
        ({"timeout_secs": 0}, r"timeout_secs must be more than 0"),
        (
            {"policy": "background", "cancel_on_interruption": True},
            r"caller speaking cannot cancel it",
        ),
        ({"cancellable_by_llm": True}, r"cancellable_by_llm=True needs a call that outlives"),
        ({"filler_after_secs": -0.5}, r"filler_after_secs must be 0 or more"),
        ({"ack": "  "}, r"ack must be something to say"),
        ({"examples": "where is my parcel"}, r"examples must be a list of phrases"),
        ({"examples": ["ok", 3]}, r"examples must be a list of phrases"),
        ({"examples": ["  "]}, r"examples must be a list of phrases"),
    ],
)
def test_contradictory_options_are_refused_with_the_fix(options: dict, message: str) -> None:
    def act(x: int) -> int:
        return x

    with pytest.raises(ToolDefinitionError, match=message):
        tool(**options)(act)


def test_retries_are_allowed_for_idempotent_tools_and_llm_cancel_for_background_ones() -> None:
    @tool(idempotent=True, retries=3)
    def lookup(code: str) -> str:
        """Look up."""
        return code

    @tool(policy="background", cancellable_by_llm=True)
    def export(month: str) -> str:
        """Export."""
        return month

    assert lookup.retries == 3 and export.cancellable_by_llm


def test_arguments_that_are_not_json_are_kept_for_the_tool_to_answer() -> None:
    assert parse_arguments('{"a": 1}') == {"a": 1}
    assert parse_arguments("") == {}
    assert parse_arguments('{"a": 1') == {UNPARSED_ARGUMENTS: '{"a": 1'}


async def test_malformed_and_invalid_arguments_become_errors_for_the_model(
    logged: list[str],
) -> None:
    ran: list[int] = []

    @tool
    def add(a: int, b: int) -> int:
        """Add."""
        ran.append(a)
        return a + b

    result, outcome = await run_tool(add, parse_arguments('{"a": 1, "b": '))
    assert outcome == "invalid_arguments"
    assert "invalid arguments for add" in result["error"]
    assert "not valid JSON" in result["error"] and '{"a": 1, "b": ' in result["error"]

    result, outcome = await run_tool(add, {"a": "one", "b": 2})
    assert outcome == "invalid_arguments"
    assert "a: Input should be a valid integer" in result["error"]
    assert ran == []  # the function never ran on bad input
    assert sum("tool add: model sent invalid arguments" in line for line in logged) == 2


async def test_a_call_past_its_timeout_is_stopped_and_the_model_told() -> None:
    stopped = asyncio.Event()

    @tool(timeout_secs=0.05)
    async def slow(x: int) -> int:
        """Slow."""
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            stopped.set()
            raise
        return x

    result, outcome = await run_tool(slow, {"x": 1})
    assert outcome == "timeout" and stopped.is_set()
    assert "slow timed out after 0.05 seconds" in result["error"]
    assert "may or may not have taken effect" in result["error"]
    json.dumps(result)  # goes into the context as JSON


async def test_idempotent_tools_are_retried_after_failures_and_timeouts() -> None:
    attempts: list[str] = []

    @tool(idempotent=True, retries=2, timeout_secs=0.05)
    async def flaky(code: str) -> dict:
        """Flaky lookup."""
        attempts.append(code)
        if len(attempts) == 1:
            raise ConnectionError("reset by peer")
        if len(attempts) == 2:
            await asyncio.sleep(5)  # times out
        return {"found": code}

    result, outcome = await run_tool(flaky, {"code": "A1"})
    assert (result, outcome) == ({"found": "A1"}, "ok")
    assert attempts == ["A1", "A1", "A1"]


async def test_retries_stop_at_the_limit_and_report_the_last_error(logged: list[str]) -> None:
    attempts = 0

    @tool(idempotent=True, retries=1)
    def broken(code: str) -> str:
        """Broken."""
        nonlocal attempts
        attempts += 1
        raise RuntimeError(f"attempt {attempts} failed")

    result, outcome = await run_tool(broken, {"code": "A1"})
    assert outcome == "failed" and attempts == 2
    assert result == {"error": "broken failed: attempt 2 failed"}
    # A logged exception's traceback follows its message as text (voicebot.redaction): the
    # first line is the message.
    assert [m.splitlines()[0] for m in logged if m.startswith("tool broken raised")] == [
        "tool broken raised RuntimeError: attempt 1 failed",
        "tool broken raised RuntimeError: attempt 2 failed",
    ]


async def test_a_tool_raising_timeout_error_itself_is_a_failure_not_a_timeout() -> None:
    @tool(timeout_secs=5)
    def remote(code: str) -> str:
        """Remote."""
        raise TimeoutError("upstream took too long")

    result, outcome = await run_tool(remote, {"code": "x"})
    assert outcome == "failed" and result == {"error": "remote failed: upstream took too long"}


def test_results_pipecat_would_not_answer_are_made_answerable() -> None:
    # Pipecat runs the model again only after a truthy result.
    assert as_result(None) == COMPLETED
    assert as_result(False) == {"result": False}
    assert as_result(0) == {"result": 0}
    assert as_result([]) == {"result": []}
    assert as_result({"ok": True}) == {"ok": True}
