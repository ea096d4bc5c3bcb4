"""The answer to a tool's result is written with ``LlamaLLM.tool_answer_temperature`` (0: the
model's likeliest words), other replies with ``temperature``: sampled at 0.2, the 0.5B made
up the demo library's Sunday hours in 7 of 20 answers to the note saying it is closed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pipecat.frames.frames import LLMContextFrame
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.tests.utils import run_test

from voicebot import Bot
from voicebot.providers.local.llama import LlamaLLM

pytest.importorskip("llama_cpp")

CALL = {"id": "c1", "type": "function", "function": {"name": "hours", "arguments": "{}"}}
ASKED = {"role": "user", "content": "Are you open on Sunday?"}
TOOL_TURN = [
    ASKED,
    {"role": "assistant", "tool_calls": [CALL]},
    {"role": "tool", "tool_call_id": "c1", "content": json.dumps("closed")},
]


async def temperatures(llm: LlamaLLM, contexts: list[list[dict[str, Any]]]) -> list[float]:
    """The temperature each context's reply was sampled at (the loaded model's own calls)."""
    llama = llm.loaded().llama
    seen: list[float] = []
    real = llama.create_chat_completion

    def spy(messages: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["temperature"])
        return real(messages, **kwargs)

    llama.create_chat_completion = spy
    try:
        for messages in contexts:
            service = llm.build(Bot().build_context({}))
            await run_test(service, frames_to_send=[LLMContextFrame(LLMContext(messages=messages))])
    finally:
        del llama.create_chat_completion  # the instance's own method again
    return seen


async def test_a_tool_result_is_answered_with_the_likeliest_words() -> None:
    llm = LlamaLLM(profile="fast", max_tokens=8)
    assert await temperatures(llm, [TOOL_TURN, [ASKED]]) == [0.0, 0.2]


async def test_the_tool_answer_temperature_can_be_the_replies_own() -> None:
    llm = LlamaLLM(profile="fast", max_tokens=8, tool_answer_temperature=None, temperature=0.5)
    assert await temperatures(llm, [TOOL_TURN]) == [0.5]
