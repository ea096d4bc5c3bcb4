"""The failover policy (which faults count, budgets, backoff) and the list form of the spec."""

from __future__ import annotations

import json
import socket

import httpx
import openai
import pytest
from pipecat.frames.frames import ErrorFrame

from voicebot import Bot, OpenAILLM
from voicebot.errors import ConfigError
from voicebot.failover.llm import FallbackLLM
from voicebot.failover.policy import FailoverPolicy, Health, Reason, classify, fails_over
from voicebot.providers.local.llama import LlamaLLM
from voicebot.testing import FakeLLM, FakeSTT, FakeTTS


def _status_error(status: int) -> openai.APIStatusError:
    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    response = httpx.Response(status, request=request, headers={"retry-after": "20"})
    return openai.APIStatusError(f"Error code: {status}", response=response, body=None)


def _caused(outer: BaseException, cause: BaseException) -> BaseException:
    outer.__cause__ = cause
    return outer


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (_status_error(500), Reason.SERVER),
        (_status_error(503), Reason.SERVER),
        (_status_error(429), Reason.RATE_LIMITED),
        (_status_error(401), Reason.AUTH),
        (_status_error(403), Reason.AUTH),
        (_status_error(402), Reason.QUOTA),
        (_status_error(404), Reason.BAD_REQUEST),
        (
            _caused(RuntimeError("Connection error."), ConnectionRefusedError(111, "refused")),
            Reason.REFUSED,
        ),
        (
            _caused(RuntimeError("Connection error."), socket.gaierror(-2, "Name unknown")),
            Reason.DNS,
        ),
        (ConnectionResetError(104, "reset by peer"), Reason.RESET),
        (json.JSONDecodeError("Expecting value", "<html>", 0), Reason.MALFORMED),
        (httpx.RemoteProtocolError("peer closed connection"), Reason.DROPPED),
        (httpx.ReadTimeout("timed out"), Reason.TIMEOUT),
        (RuntimeError("something else"), Reason.ERROR),
    ],
)
def test_every_vendor_fault_has_a_reason(error: BaseException, reason: Reason) -> None:
    assert classify(error) is reason
    assert classify(ErrorFrame(error=str(error), exception=error)) is reason  # type: ignore[arg-type]


def test_an_application_error_does_not_fail_the_provider_over() -> None:
    from pipecat.utils.errors import ErrorCategory

    tool_failed = ErrorFrame(error="tool raised", category=ErrorCategory.APPLICATION)
    assert not fails_over(tool_failed)
    assert fails_over(ErrorFrame(error="429", category=ErrorCategory.RATE_LIMIT))


def test_budgets_and_backoff() -> None:
    policy = FailoverPolicy(retry_secs=5, max_retry_secs=30)
    assert policy.first_budget("llm", OpenAILLM(api_key="sk-x")) == 2.5
    assert policy.first_budget("llm", LlamaLLM()) == policy.llm_local_first_token_secs
    assert policy.stall_budget("llm") == 2.0
    assert [policy.backoff(n) for n in range(5)] == [0, 5, 10, 20, 30]
    health = Health("x")
    health.failed(Reason.SERVER, "500", policy, now=100.0)
    assert not health.due(104.9) and health.due(105.0)
    health.succeeded()
    assert health.healthy and health.due(0.0)


def _bot(**stages: object) -> Bot:
    return Bot(stt=FakeSTT(), tts=FakeTTS(), vad="energy", turn="silence", **stages)  # type: ignore[arg-type]


def test_a_list_of_llms_is_a_fallback_group_in_order() -> None:
    a, b = OpenAILLM(api_key="sk-a"), FakeLLM(replies=["hi"])
    bot = _bot(llm=[a, "fake"])
    assert isinstance(bot.llm, FallbackLLM)
    assert [type(p).__name__ for p in bot.llm.providers] == ["OpenAILLM", "FakeLLM"]
    assert bot.llm.providers[0] is a
    assert _bot(llm=[b]).llm is b, "one provider in a list is that provider"


def test_an_empty_list_is_refused_with_the_fix() -> None:
    with pytest.raises(ConfigError, match=r"Bot\(llm=\[\]\) has no provider: give one"):
        _bot(llm=[])


def test_a_list_member_of_the_wrong_kind_is_refused() -> None:
    with pytest.raises(ConfigError, match="FakeTTS is a tts provider and cannot be the bot's llm"):
        _bot(llm=[FakeLLM(), FakeTTS()])


def test_group_members_have_their_own_retries_turned_off() -> None:
    from voicebot.failover.llm import _without_retries

    assert _without_retries(OpenAILLM(api_key="sk-a")).max_retries == 0  # type: ignore[attr-defined]
    kept = OpenAILLM(api_key="sk-a", max_retries=2)
    assert _without_retries(kept) is kept, "a user's explicit choice is kept"


def test_a_switch_is_logged_counted_and_given_to_listeners() -> None:
    prometheus_client = pytest.importorskip("prometheus_client")
    from voicebot.failover.policy import FailoverEvent, record_switch

    labels = {"stage": "llm", "from": "A", "to": "B", "reason": "rate_limited"}
    before = prometheus_client.REGISTRY.get_sample_value("voicebot_failovers_total", labels) or 0
    heard: list[FailoverEvent] = []
    event = FailoverEvent("llm", "A", "B", "rate_limited", "429", after_secs=0.02, replayed=True)
    record_switch(event, [heard.append])

    after = prometheus_client.REGISTRY.get_sample_value("voicebot_failovers_total", labels)
    assert after == before + 1
    assert heard == [event]
    assert event.line() == (
        "voicebot failover: llm A -> B: rate_limited after 0.02s, request replayed (429)"
    )


def test_local_models_get_the_local_budgets() -> None:
    from voicebot import LlamaLLM, PiperTTS, WhisperSTT
    from voicebot.testing import FakeSTT

    policy = FailoverPolicy()
    assert policy.first_budget("stt", WhisperSTT()) == policy.stt_local_final_secs
    assert policy.first_budget("tts", PiperTTS()) == policy.tts_local_first_byte_secs
    assert policy.first_budget("llm", LlamaLLM()) == policy.llm_local_first_token_secs
    served = LlamaLLM(base_url="http://127.0.0.1:9/v1", model="m")
    assert policy.first_budget("llm", served) == policy.llm_first_token_secs
    assert policy.first_budget("stt", FakeSTT()) == policy.stt_final_secs
