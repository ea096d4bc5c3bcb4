"""The cascade's routing policies, one decision at a time (no pipeline)."""

from __future__ import annotations

import pytest
from pipecat.adapters.llm.schemas.function_schema import FunctionSchema

from voicebot import ConfigError
from voicebot.cascade import (
    Cascade,
    CascadeTurn,
    any_of,
    fast_declines,
    keywords,
    longer_than,
    needs_tool,
)
from voicebot.cascade.routes import FastDeclines, as_route
from voicebot.failover.llm import FallbackLLM
from voicebot.testing import FakeLLM


def turn(text: str, tools: tuple[FunctionSchema, ...] = ()) -> CascadeTurn:
    return CascadeTurn(text=text, messages=({"role": "user", "content": text},), tools=tools)


def test_longer_than_counts_words() -> None:
    policy = longer_than(5)
    assert policy(turn("one two three four five")) is None
    assert policy(turn("one two three four five six")) == "capable"


def test_keywords_match_whole_words_in_any_case() -> None:
    policy = keywords(["refund", "speak to a manager"])
    assert policy(turn("I want a REFUND now")) == "capable"
    assert policy(turn("Can I speak to a manager?")) == "capable"
    assert policy(turn("refunded already")) is None  # not the word itself
    assert policy(turn("hello")) is None


def test_needs_tool_uses_the_offline_tool_router() -> None:
    tools = (
        FunctionSchema(
            name="book_appointment",
            description="Book an appointment for the caller on a weekday at a time.",
            properties={"day": {"type": "string"}, "time": {"type": "string"}},
            required=["day", "time"],
        ),
        FunctionSchema(
            name="cancel_appointment",
            description="Cancel the appointment booked under a caller's name.",
            properties={"name": {"type": "string"}},
            required=["name"],
        ),
    )
    assert needs_tool(turn("Please book me an appointment on Friday at 3 pm.", tools)) == "capable"
    assert needs_tool(turn("Hi there, how are you?", tools)) is None
    assert needs_tool(turn("Please book me an appointment on Friday.")) is None  # no tools


@pytest.mark.parametrize(
    ("text", "final", "verdict"),
    [
        ("I'm not", False, None),  # could still be "I'm not sure" or "I'm not open"
        ("I'm not sure", False, True),
        ("Hmm, I don\u2019t know that", False, True),
        ("Sorry, I can't help with that.", False, True),
        ("We open", False, None),  # too early to tell
        ("We open at nine.", False, False),  # a sentence ended: released
        ("Sorry, we're closed on Sundays.", False, False),  # an answer, not a decline
        ("Sure", True, False),  # the reply ended
        ("Our dentists are Dr. Patel and Dr. Kim", False, False),  # past the hold
    ],
)
def test_fast_declines_judges_the_first_words(text: str, final: bool, verdict: bool | None) -> None:
    assert fast_declines.judge(text, final=final) is verdict


def test_any_of_escalates_on_the_first_policy_that_says_so() -> None:
    route = any_of(longer_than(10), keywords(["refund"]), lambda t: t.words == 1)
    assert route.decide(turn("hello")) == ("capable", "<lambda>")
    assert route.decide(turn("I want a refund")) == ("capable", "keywords")
    assert route.decide(turn("how are you")) == ("fast", "routine")
    assert route.declines is None
    assert any_of(needs_tool, fast_declines).declines is fast_declines


def test_a_user_function_that_fails_or_answers_nonsense_counts_as_fast() -> None:
    def broken(_: CascadeTurn) -> str:
        raise RuntimeError("boom")

    assert as_route(broken).decide(turn("hi")) == ("fast", "routine")
    assert as_route(lambda t: "maybe").decide(turn("hi")) == ("fast", "routine")
    assert as_route(lambda t: True).decide(turn("hi")) == ("capable", "<lambda>")


def test_bad_specs_are_one_line_config_errors() -> None:
    with pytest.raises(ConfigError, match="needs a list"):
        keywords("refund")
    with pytest.raises(ConfigError, match="whole number"):
        longer_than(0)
    with pytest.raises(ConfigError, match="not int"):
        Cascade(fast=FakeLLM(), capable=FakeLLM(), route=42)
    with pytest.raises(ConfigError, match="single LLM providers"):
        Cascade(fast=FakeLLM(), capable=FallbackLLM([FakeLLM(), FakeLLM()]))
    inner = Cascade(fast=FakeLLM(), capable=FakeLLM())
    with pytest.raises(ConfigError, match="single LLM providers"):
        Cascade(fast=inner, capable=FakeLLM())
    with pytest.raises(ConfigError, match="markers"):
        FastDeclines(markers=())


def test_a_route_given_as_a_list_is_any_of_and_members_resolve_by_name() -> None:
    cascade = Cascade(fast="fake", capable=FakeLLM(), route=[longer_than(3), fast_declines])
    assert cascade.route.declines is fast_declines
    assert cascade.providers == (FakeLLM(), FakeLLM())
    assert "route=any_of(longer_than(3), fast_declines)" in cascade.describe()
