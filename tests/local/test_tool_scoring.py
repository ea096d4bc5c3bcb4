"""The LLM's opinion on the tool choice, with the real balanced model (Qwen2.5-Coder-0.5B)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from voicebot import MissingExtraError, tool
from voicebot.providers.local import LlamaLLM
from voicebot.providers.local.tool_router import ToolRouter, ToolSpec
from voicebot.providers.local.tool_scoring import LLMToolScorer


@tool
def call_taxi(destination: str) -> str:
    """Call a taxi to take the guest to a destination."""
    return ""


@tool
def wake_up_call(hour: int) -> str:
    """Schedule a wake-up call to the room at an hour (24 h clock)."""
    return ""


SPECS = [ToolSpec.from_function_schema(t.to_function_schema()) for t in (call_taxi, wake_up_call)]


@pytest.fixture(scope="module")
def llama() -> Any:
    try:
        return LlamaLLM().loaded().llama
    except MissingExtraError as e:
        pytest.skip(str(e))


def test_tool_scores_are_log_probabilities_over_the_options(llama: Any) -> None:
    scores = LLMToolScorer(llama).log_probs(SPECS, "i need a cab to the station")
    assert scores is not None and scores.shape == (3,)  # two tools and "none"
    assert np.isclose(np.exp(scores).sum(), 1.0)


def test_only_the_request_is_evaluated_after_the_first_time(
    llama: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import llama_cpp

    decoded: list[int] = []
    real = llama_cpp.llama_decode

    def counting(ctx: Any, batch: Any) -> int:
        decoded.append(batch.n_tokens)
        return int(real(ctx, batch))

    monkeypatch.setattr(llama_cpp, "llama_decode", counting)
    scorer = LLMToolScorer(llama)
    scorer.log_probs(SPECS, "wake me at six")
    first = sum(decoded)
    decoded.clear()
    scorer.log_probs(SPECS, "i need a cab to the station")
    request = len(llama.tokenize(b" i need a cab to the station", add_bos=False))
    assert first > 300  # the listing and the worked examples
    assert sum(decoded) <= request + 8  # the request and the chat suffix, not the prefix


def test_sets_it_cannot_score_leave_the_choice_to_the_embeddings(llama: Any) -> None:
    many = [ToolSpec(f"tool_{i}", f"Does thing {i}.", {"properties": {}}) for i in range(26)]
    assert LLMToolScorer(llama).log_probs(many, "do thing three") is None
    router = ToolRouter(SPECS, scorer=LLMToolScorer(llama))
    assert router.route("") is None
    assert router.route("hello") in (None, *SPECS)
