"""Options no call can use are refused when the bot is declared, as one ConfigError naming
the option: out of range, infinite or NaN, empty, or at odds with another option."""

from __future__ import annotations

import math
from typing import Any

import pytest

import voicebot as vb
from voicebot import Bot, ConfigError
from voicebot.testing import FakeLLM, FakeSTT, FakeTTS

FAKES: dict[str, Any] = {"stt": FakeSTT(), "llm": FakeLLM(), "tts": FakeTTS()}


@pytest.mark.parametrize(
    ("make", "names"),
    [
        (lambda: vb.SileroVAD(confidence=2), "confidence"),
        (lambda: vb.SileroVAD(stop_secs=-1), "stop_secs"),
        (lambda: vb.EnergyVAD(threshold=math.nan), "threshold"),
        (lambda: vb.SilenceTurn(silence_secs=math.inf), "silence_secs"),
        (lambda: vb.OpenAILLM(temperature=5), "temperature"),
        (lambda: vb.OpenAILLM(temperature=math.nan), "temperature"),
        (lambda: vb.OpenAILLM(max_tokens=-1), "max_tokens"),
        (lambda: vb.OpenAILLM(model=""), "model"),
        (lambda: vb.DeepgramSTT(model=""), "model"),
        (lambda: Bot(**FAKES, idle_timeout_secs=math.inf), "idle_timeout_secs"),
    ],
)
def test_a_value_no_call_can_use_is_one_config_error_naming_the_option(
    make: Any, names: str
) -> None:
    with pytest.raises(ConfigError, match=names):
        make()


@pytest.mark.parametrize(
    ("make", "names"),
    [
        (lambda v: v.BargeIn(min_interrupt_secs=-1), "min_interrupt_secs"),
        (lambda v: v.UserIdle(after_secs=math.inf), "after_secs"),
        (lambda v: v.BargeIn(pause_after="x"), "pause_after"),
    ],
)
def test_option_objects_fail_as_config_errors_not_pydantic_reports(make: Any, names: str) -> None:
    import voicebot

    with pytest.raises(ConfigError, match=names) as caught:
        make(voicebot)
    assert "errors.pydantic.dev" not in str(caught.value)
    assert "\n" not in str(caught.value)


def test_idle_nudges_that_the_idle_timeout_would_pre_empt_are_refused() -> None:
    from voicebot import UserIdle

    with pytest.raises(ConfigError, match="never nudges"):
        Bot(**FAKES, user_idle=UserIdle(after_secs=60), idle_timeout_secs=5)
    Bot(**FAKES, user_idle=UserIdle(after_secs=6), idle_timeout_secs=300)  # fine


def test_a_provider_name_with_a_slash_and_no_model_is_refused() -> None:
    with pytest.raises(ConfigError, match="no model after '/'"):
        Bot(stt=FakeSTT(), llm="openai/", tts=FakeTTS())


def test_a_blank_greeting_is_refused() -> None:
    with pytest.raises(ConfigError, match="greeting"):
        Bot(**FAKES, greeting="   ")


async def test_bot_run_inside_a_running_loop_points_to_arun() -> None:
    with pytest.raises(ConfigError, match=r"await bot\.arun"):
        Bot(**FAKES).run()
