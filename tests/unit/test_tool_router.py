"""Routing requests to tools by word overlap (no model), and the grammar's schema."""

from __future__ import annotations

from typing import Literal

from voicebot import tool
from voicebot.providers.local.tool_router import (
    ToolRouter,
    ToolSpec,
    grammar_schema,
    mentioned_enum_values,
)


@tool
def get_weather(city: str) -> str:
    """Current weather forecast for a city."""
    return ""


@tool
def set_timer(minutes: int) -> str:
    """Start a countdown timer for a number of minutes."""
    return ""


@tool
def book(day: Literal["monday", "friday"], hour: int) -> str:
    """Book an appointment on a weekday."""
    return ""


SPECS = [
    ToolSpec.from_function_schema(t.to_function_schema()) for t in (get_weather, set_timer, book)
]


def test_requests_route_to_the_tool_they_describe_and_small_talk_to_none() -> None:
    router = ToolRouter(SPECS)
    assert router.route("What's the weather forecast in Paris?").name == "get_weather"  # type: ignore[union-attr]
    assert router.route("Set a timer for ten minutes").name == "set_timer"  # type: ignore[union-attr]
    assert router.route("I need an appointment on Friday").name == "book"  # type: ignore[union-attr]
    assert router.route("Hello there, how are you?") is None
    assert router.route("") is None
    assert ToolRouter([]).route("weather") is None


def test_required_strings_must_be_non_empty_under_the_grammar() -> None:
    schema = grammar_schema(SPECS[0].parameters)
    assert schema["properties"]["city"]["minLength"] == 1
    assert "minLength" not in SPECS[0].parameters["properties"]["city"]  # the tool is untouched


def test_enum_values_said_outright_win() -> None:
    assert mentioned_enum_values(SPECS[2], "Book Friday at ten") == {"day": "friday"}
    assert mentioned_enum_values(SPECS[2], "Monday or Friday?") == {}  # ambiguous: leave it
