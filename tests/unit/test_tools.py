"""@tool: schemas from type hints and docstrings, validation of what the model sends."""

from __future__ import annotations

from typing import Literal

import pytest

from voicebot import ToolDefinitionError, tool
from voicebot.tools import ToolArgumentsError


def test_schema_comes_from_type_hints_and_docstring() -> None:
    @tool
    def book(day: Literal["mon", "tue"], people: int, note: str = "") -> str:
        """Book a table.

        Longer explanation that is not part of the description.
        """
        return day

    assert book.name == "book"
    assert book.description == "Book a table."
    schema = book.to_function_schema()
    assert schema.required == ["day", "people"]
    assert schema.properties["people"]["type"] == "integer"
    assert schema.properties["day"]["enum"] == ["mon", "tue"]
    assert schema.properties["note"]["default"] == ""


async def test_sync_and_async_tools_run_with_validated_arguments() -> None:
    @tool
    def add(a: int, b: int) -> int:
        """Add."""
        return a + b

    @tool(name="mul", description="Multiply two numbers.")
    async def multiply(a: float, b: float) -> float:
        return a * b

    assert await add.invoke({"a": "2", "b": 3}) == 5
    assert multiply.name == "mul" and multiply.description == "Multiply two numbers."
    assert await multiply.invoke({"a": 1.5, "b": 2}) == 3.0


async def test_bad_arguments_are_reported_by_field() -> None:
    @tool
    def add(a: int, b: int) -> int:
        """Add."""
        return a + b

    with pytest.raises(ToolArgumentsError, match="b: Field required"):
        await add.invoke({"a": 1})
    with pytest.raises(ToolArgumentsError, match="a: Input should be a valid integer"):
        await add.invoke({"a": "many", "b": 1})
    with pytest.raises(ToolArgumentsError, match="must be a JSON object"):
        await add.invoke(["a", "b"])


def test_functions_that_cannot_be_described_are_refused() -> None:
    def untyped(x):  # type: ignore[no-untyped-def]
        return x

    with pytest.raises(ToolDefinitionError, match="parameter 'x' needs a type hint"):
        tool(untyped)

    def variadic(*args: int) -> None:
        return None

    with pytest.raises(ToolDefinitionError, match=r"\*args"):
        tool(variadic)
