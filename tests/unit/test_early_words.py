"""The caller's words at a pause go to an LLM that prefills its prompt (``early_words``)."""

from __future__ import annotations

from typing import Any

from pipecat.processors.aggregators.llm_context import LLMContext

from voicebot.conversation.early_words import EarlyWords, prefill_on_early_words
from voicebot.conversation.pauses import PauseWatch


class PrefillingLLM:
    prefills_early_words = True

    def __init__(self) -> None:
        self.prefilled: list[list[dict[str, Any]]] = []
        self.cancelled = 0

    def prefill(self, messages: list[dict[str, Any]]) -> None:
        self.prefilled.append(messages)

    def cancel_prefill(self) -> None:
        self.cancelled += 1


class Aggregator:
    """The user aggregator's public view: the transcripts gathered this turn."""

    def __init__(self, so_far: str = "") -> None:
        self.so_far = so_far

    def aggregation_string(self) -> str:
        return self.so_far


class EarlySTT:
    def __init__(self) -> None:
        self.early_listeners: list[Any] = []


HISTORY = [
    {"role": "user", "content": "Hi."},
    {"role": "assistant", "content": "Hello, how can I help?"},
]


def test_the_words_become_the_next_user_message_after_the_context_as_it_stands() -> None:
    llm = PrefillingLLM()
    context = LLMContext(list(HISTORY))
    EarlyWords(llm, context, Aggregator()).heard("When do you open?")
    assert llm.prefilled == [[*HISTORY, {"role": "user", "content": "When do you open?"}]]
    assert context.get_messages() == HISTORY  # the context itself is not touched


def test_words_already_gathered_this_turn_come_first_as_the_aggregator_joins_them() -> None:
    llm = PrefillingLLM()
    EarlyWords(llm, LLMContext([]), Aggregator("I'd like to book")).heard("a table for two.")
    assert llm.prefilled[0][-1] == {"role": "user", "content": "I'd like to book a table for two."}


def test_the_caller_going_on_stops_the_prefill() -> None:
    llm = PrefillingLLM()
    words = EarlyWords(llm, LLMContext([]), Aggregator())
    words.caller_paused(0.1)
    assert llm.cancelled == 0
    words.caller_resumed()
    assert llm.cancelled == 1


def test_wiring_adds_a_listener_to_the_stt_and_to_the_pause_watch() -> None:
    stt, llm, watch = EarlySTT(), PrefillingLLM(), PauseWatch(0.064, [])
    words = prefill_on_early_words(watch, stt, llm, LLMContext([]), Aggregator())
    assert words is not None
    assert stt.early_listeners == [words.heard]
    assert watch.listeners == [words]
    stt.early_listeners[0]("Yes.")
    assert llm.prefilled[0][-1]["content"] == "Yes."


def test_nothing_is_wired_when_a_side_cannot_or_will_not() -> None:
    watch = PauseWatch(0.064, [])
    off = PrefillingLLM()
    off.prefills_early_words = False  # LlamaLLM(prefill=False)
    cases = [
        (None, EarlySTT(), PrefillingLLM()),  # no pause watch (no early transcripts)
        (watch, object(), PrefillingLLM()),  # an STT without early transcripts
        (watch, EarlySTT(), object()),  # a cloud LLM, a fallback group
        (watch, EarlySTT(), off),
    ]
    for pause_watch, stt, llm in cases:
        assert prefill_on_early_words(pause_watch, stt, llm, LLMContext([]), Aggregator()) is None
    assert watch.listeners == []
