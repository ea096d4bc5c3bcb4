"""The in-process model evaluates the next prompt at the caller's pause (``llama_prefill``),
on the real model: a prefilled prompt costs no evaluation when it is asked, a prefill the
caller talked over is stopped mid-way, and the model's answers are the same either way."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from voicebot import Bot
from voicebot.providers.local.llama_prefill import PromptPrefill
from voicebot.testing import FakeTTS
from voicebot.transports.wav import WavFile

pytest.importorskip("llama_cpp")

SYSTEM = {"role": "system", "content": "You are a helpful voice assistant. Answer briefly."}
PROMPT = [
    SYSTEM,
    {"role": "user", "content": "Hi there."},
    {"role": "assistant", "content": "Hello! How can I help you today?"},
    {"role": "user", "content": "What time do you open on Saturdays?"},
]


def model() -> Any:
    from voicebot.providers.local import LlamaLLM

    return LlamaLLM().loaded()


def forget(loaded: Any) -> None:
    with loaded.lock:
        loaded.llama.reset()


def answer(loaded: Any, prompt: list[dict[str, str]]) -> tuple[str, list[int]]:
    """Greedy reply to ``prompt`` and the sizes of llama.cpp's evaluations on the way."""
    llama = loaded.llama
    sizes: list[int] = []
    evaluate = llama.eval

    def counted(tokens: Any) -> None:
        sizes.append(len(tokens))
        evaluate(tokens)

    llama.eval = counted
    try:
        with loaded.lock:
            out = llama.create_chat_completion(prompt, temperature=0.0, max_tokens=12)
    finally:
        del llama.eval
    return out["choices"][0]["message"]["content"], sizes


async def settled(loaded: Any) -> None:
    await loaded.thread.run(lambda: None)  # the model's one thread: the prefill is done


async def test_a_prefilled_prompt_is_answered_with_no_evaluation_and_the_same_words() -> None:
    loaded = model()
    forget(loaded)
    plain, plain_sizes = answer(loaded, PROMPT)
    assert plain_sizes[0] > 20  # the whole prompt, evaluated when asked
    forget(loaded)
    prefill = PromptPrefill(loaded)
    prefill.start(PROMPT)
    await settled(loaded)
    prefill.claim(PROMPT)
    prefilled, sizes = answer(loaded, PROMPT)
    assert sizes[0] == 0, sizes  # the first token came from the cache
    assert prefilled == plain
    assert prefill.counts.to_dict() == {"started": 1, "matched": 1, "dropped": 0, "busy": 0}


async def test_a_prefill_talked_over_stops_mid_prompt_and_the_model_answers_as_before() -> None:
    loaded = model()
    long = [SYSTEM, {"role": "user", "content": "Tell me about each room of the library. " * 60}]
    forget(loaded)
    prefill = PromptPrefill(loaded)
    prefill.start(long)
    async with asyncio.timeout(60):
        while not loaded.lock.locked():  # the evaluation has begun
            await asyncio.sleep(0.001)
    prefill.cancel()  # the caller went on
    await settled(loaded)
    total = len(loaded.llama.tokenize(b"x"))  # any call: the model is free again
    assert total
    assert loaded.llama.n_tokens < 200, "the long prompt was evaluated to the end"
    assert prefill.counts.dropped == 1
    after, _sizes = answer(loaded, PROMPT)
    forget(loaded)
    fresh, _sizes = answer(loaded, PROMPT)
    assert after == fresh


async def test_a_request_with_other_words_stops_the_prefill_and_one_never_waits() -> None:
    loaded = model()
    forget(loaded)
    prefill = PromptPrefill(loaded)
    with loaded.lock:  # another call's reply holds the model
        prefill.start(PROMPT)
        await settled(loaded)
    assert prefill.counts.busy == 1 and loaded.llama.n_tokens == 0
    other = [*PROMPT[:-1], {"role": "user", "content": "Do you open on Sundays?"}]
    prefill.start(PROMPT)
    prefill.claim(other)  # the words changed after the pause
    assert prefill.counts.dropped == 1 and prefill.counts.matched == 0
    await settled(loaded)


async def test_in_a_session_the_words_at_the_pause_are_prefilled_and_used(tmp_path: Path) -> None:
    """Silero, Whisper started at the pause, the real model: the replies' prompts were
    evaluated before the turns were over."""
    pytest.importorskip("faster_whisper")
    caller = REPO / "examples" / "audio" / "offline_demo.wav"
    bot = Bot(turn="punctuation", tts=FakeTTS())
    transport = WavFile(input=caller, output=tmp_path / "out.wav", linger_secs=4.0)
    await bot.prepare(transport=transport)
    session = bot.session(transport=transport)
    await session.run()
    counts = session.llm.prefills  # type: ignore[attr-defined]
    answered = [t for t in session.turns if t.user_text and t.bot_text]
    assert answered, [(t.user_text, t.bot_text) for t in session.turns]
    assert counts.matched >= 1, counts
