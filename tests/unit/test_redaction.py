"""``voicebot.redaction``: which values and shapes are masked, and what the log patcher does."""

from __future__ import annotations

import io

import pytest
from loguru import logger

from voicebot import Bot, DailyRoom, OpenAILLM
from voicebot.providers.base import BuildContext
from voicebot.redaction import install, is_secret_name, redact, redact_value, register, register_env


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("Authorization: Bearer abcdefghijkl", "Authorization: Bearer ***"),
        ('{"Authorization": "Token abcdefgh12345"}', '{"Authorization": "Token ***"}'),
        ("wss://api.x/tts?api_key=abcdef123&v=1", "wss://api.x/tts?api_key=***&v=1"),
        ("redis://:hunter2pass@10.0.0.2:6379/0", "redis://:***@10.0.0.2:6379/0"),
        ("refused sk-proj-abcdefghijklmnopqrst1234", "refused ***"),
        ("https://h/cb?token=abcd1234&x=1", "https://h/cb?token=***&x=1"),
        # Ordinary text that merely mentions tokens or keys is left alone.
        ("time to first token: 0.31 s", "time to first token: 0.31 s"),
        ("max_tokens=80 tokens=5", "max_tokens=80 tokens=5"),
        ("token counting works; the key point", "token counting works; the key point"),
    ],
)
def test_credential_shapes_are_masked_and_ordinary_text_is_not(text: str, masked: str) -> None:
    assert redact(text) == masked


def test_registered_values_are_masked_anywhere_short_ones_are_ignored() -> None:
    register("Zq9-unit-registered-value")
    register("short")
    assert redact("x Zq9-unit-registered-value y short") == "x *** y short"
    assert redact_value({"a": ["Zq9-unit-registered-value"], "n": 3}) == {"a": ["***"], "n": 3}


def test_secret_looking_environment_names_are_registered() -> None:
    names = ["OPENAI_API_KEY", "DAILY_TOKEN", "TWILIO_AUTH_TOKEN", "DB_PASSWORD", "MY_KEY"]
    assert all(is_secret_name(n) for n in names)
    assert not any(is_secret_name(n) for n in ["PATH", "HOME", "LANG", "KEYBOARD_LAYOUT"])
    register_env({"TWILIO_AUTH_TOKEN": "Zq9-env-token-value", "HOME": "/home/Zq9-not-secret"})
    assert redact("Zq9-env-token-value /home/Zq9-not-secret") == "*** /home/Zq9-not-secret"
    register_env({"CUSTOM_SETTING": "Zq9-named-explicitly"}, names=["CUSTOM_SETTING"])
    assert redact("Zq9-named-explicitly") == "***"


def test_bot_check_registers_the_spec_and_environment_keys_and_no_repr_shows_them() -> None:
    bot = Bot(
        llm=OpenAILLM(api_key="sk-test-Zq9spec-0123456789"),
        transport=DailyRoom(room_url="https://x.daily.co/r", token="Zq9-daily-room-token"),
        stt="fake",
        tts="fake",
        vad="energy",
        turn="silence",
    )
    ctx = bot.check({"DEEPGRAM_API_KEY": "Zq9-deepgram-env-key"})
    text = "sk-test-Zq9spec-0123456789 Zq9-daily-room-token Zq9-deepgram-env-key"
    assert redact(text) == "*** *** ***"
    assert "Zq9" not in repr(bot) and "Zq9" not in repr(ctx)
    assert "Zq9" not in repr(BuildContext(env={"OPENAI_API_KEY": "Zq9-direct"}))


def test_the_log_patcher_masks_messages_extras_and_tracebacks_without_variables() -> None:
    install()
    register("Zq9-log-secret-value")
    out = io.StringIO()
    sink = logger.add(out, level="DEBUG", backtrace=True, diagnose=True, format="{message} {extra}")
    try:
        logger.bind(url="https://h/?api_key=Zq9abcdef").info("key Zq9-log-secret-value used")
        key = "Zq9-log-secret-value"
        try:
            raise RuntimeError(f"refused {key}")
        except RuntimeError:
            logger.exception("call failed")
    finally:
        logger.remove(sink)
    text = out.getvalue()
    assert "Zq9" not in text, text
    assert "key *** used" in text and "api_key=***" in text
    assert "call failed\nTraceback (most recent call last):" in text
    assert "RuntimeError: refused ***" in text


def test_stdlib_logging_records_are_masked_too() -> None:
    import logging
    import sys

    register("sk-test-STDLIB-PLANTED-0123456789")
    install()
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    log = logging.getLogger("websockets.client")  # a vendor SDK's logger, not loguru
    handler = Keep()
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    try:
        log.debug("> %s: %s", "Authorization", "Token sk-test-STDLIB-PLANTED-0123456789")
        try:
            raise RuntimeError("refused key sk-test-STDLIB-PLANTED-0123456789")
        except RuntimeError:
            log.error("connect failed", exc_info=sys.exc_info())
    finally:
        log.removeHandler(handler)
    assert len(lines) == 2 and "Authorization" in lines[0]
    assert "RuntimeError" in lines[1]  # the traceback is still there, masked
    assert not any("STDLIB-PLANTED" in line for line in lines), lines


def test_a_callers_number_is_masked_in_logs() -> None:
    from voicebot.redaction import mask_number

    assert mask_number("+15551234567") == "**********67"
    assert mask_number("sip:+15551234567@pbx.example") == "sip:**********67@pbx.example"
    assert mask_number("sip:alice@10.0.0.1") == "sip:***ce@10.0.0.1"
    assert mask_number("1234") == "****"
    assert mask_number(None) == "unknown"
