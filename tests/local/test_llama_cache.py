"""``kept_cache``: a side task on the model (writing a tool's arguments) leaves the
conversation's cache as it was, so the next prompt evaluates only its new tokens, and the
model's output is what a fresh model gives (the restored cache is the real one)."""

from __future__ import annotations

from typing import Any

import pytest

from voicebot.providers.local.llama_cache import kept_cache

llama_cpp = pytest.importorskip("llama_cpp")

HISTORY = "The capital of France is Paris. The capital of Italy is Rome. The capital of"


def small_model() -> Any:
    from voicebot.providers.local.models import smollm2_gguf

    return llama_cpp.Llama(str(smollm2_gguf()), n_ctx=512, n_threads=1, verbose=False)


def counting_evals(llama: Any) -> list[int]:
    counts: list[int] = []
    real = llama.eval

    def evaluate(tokens: Any) -> None:
        counts.append(len(tokens))
        real(tokens)

    llama.eval = evaluate
    return counts


def test_the_next_prompt_reuses_the_cache_from_before_the_side_task() -> None:
    llama = small_model()
    history = llama.tokenize(HISTORY.encode())
    llama.eval(history)
    with kept_cache(llama):
        llama.create_completion("Write the JSON for a cat called Tom:", max_tokens=8)
    assert llama.n_tokens == len(history)
    counts = counting_evals(llama)
    prompt = HISTORY + " Spain is"
    reply = llama.create_completion(prompt, max_tokens=4, temperature=0.0)
    new = len(llama.tokenize(prompt.encode())) - len(history)
    assert counts[0] == new, counts  # only " Spain is", not the whole history

    fresh = small_model()
    expected = fresh.create_completion(prompt, max_tokens=4, temperature=0.0)
    assert reply["choices"][0]["text"] == expected["choices"][0]["text"]


def test_without_it_the_side_task_evicts_the_history() -> None:
    """What ``kept_cache`` is for: the check above would fail without it."""
    llama = small_model()
    history = llama.tokenize(HISTORY.encode())
    llama.eval(history)
    llama.create_completion("Write the JSON for a cat called Tom:", max_tokens=8)
    counts = counting_evals(llama)
    llama.create_completion(HISTORY + " Spain is", max_tokens=1, temperature=0.0)
    assert counts[0] > len(history) // 2, counts


def test_a_side_task_starts_from_where_it_ended_last_time() -> None:
    """``SideCaches``: the second run of the same side prompt evaluates only what differs
    (the request), and the conversation's cache is still kept around it."""
    from voicebot.providers.local.llama_cache import SideCaches

    llama = small_model()
    history = llama.tokenize(HISTORY.encode())
    llama.eval(history)
    side = SideCaches()
    task = "Fill in the JSON for the pet the user names. Its fields: name, kind. The user said: "
    counts = counting_evals(llama)
    for said in ("a cat called Tom", "a dog called Rex"):
        counts.clear()
        with kept_cache(llama), side.run(llama, "pet"):
            llama.create_completion(task + said, max_tokens=2, temperature=0.0)
        first = counts[0]
    assert first <= len(llama.tokenize(b" a dog called Rex")) + 1, first  # not the task
    assert llama.n_tokens == len(history)


def test_prepared_tools_have_their_argument_prompt_cached_for_the_first_call() -> None:
    """``LlamaLLM.prepare_tools`` evaluates each tool's argument prompt at load, so the
    first request for it evaluates only the request's tokens."""
    from voicebot import tool
    from voicebot.providers.local.llama import LlamaLLM, arguments_key
    from voicebot.providers.local.tool_router import ToolSpec, extract_arguments

    @tool
    def opening_hours(day: str) -> str:
        """Opening hours of the library on a day of the week."""
        return "closed"

    llm = LlamaLLM(profile="fast")
    schema = opening_hours.to_function_schema()
    llm.prepare_tools([schema])
    model = llm.loaded()
    spec = ToolSpec.from_function_schema(schema)
    counts = counting_evals(model.llama)
    try:
        with kept_cache(model.llama), model.side_caches.run(model.llama, arguments_key(spec)):
            extract_arguments(model.llama, spec, "Are you open on Sunday?")
    finally:
        del model.llama.eval  # the instance's own method again
    assert counts[0] <= 12, counts  # " Are you open on Sunday?" and the turn's end, not ~60


def test_a_prepared_conversation_start_is_not_evaluated_again_on_the_first_turn() -> None:
    """``LlamaLLM.prepare_conversation`` (run by ``Bot.prepare``) evaluates the system prompt
    and the greeting, so the first turn's prompt evaluates only the caller's words and the
    template around them (before, the whole prompt: a process's first call paid for it)."""
    from pipecat.processors.aggregators.llm_context import LLMContext

    from voicebot.providers.local.chat_prompt import chat_messages
    from voicebot.providers.local.llama import LlamaLLM

    system = "You are the town library's friendly voice assistant. Answer in one sentence."
    greeting = "Hello, this is the town library. How can I help you today?"
    context = LLMContext(
        messages=[
            {"role": "assistant", "content": greeting},
            {"role": "user", "content": "Are you open on Sunday?"},
        ]
    )
    model = LlamaLLM(profile="fast").loaded()

    def first_turn() -> list[int]:
        counts = counting_evals(model.llama)
        try:
            model.evaluate(
                lambda: model.llama.create_chat_completion(
                    chat_messages(context, system),  # type: ignore[arg-type]
                    max_tokens=1,
                )
            )
        finally:
            del model.llama.eval
        return counts

    model.evaluate(lambda: model.llama.reset())  # another conversation's cache: none of it
    cold = sum(first_turn())
    model.evaluate(lambda: model.llama.reset())
    model.prepared_starts.clear()  # other tests of this process may have prepared it
    LlamaLLM(profile="fast").prepare_conversation(system, greeting)
    warm = sum(first_turn())
    assert cold >= 40 and warm <= 15, (cold, warm)
    # Once per process: the next call's prepare leaves the running conversation's cache be.
    counts = counting_evals(model.llama)
    try:
        LlamaLLM(profile="fast").prepare_conversation(system, greeting)
    finally:
        del model.llama.eval
    assert counts == []
