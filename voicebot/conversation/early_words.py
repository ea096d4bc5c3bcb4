"""The caller's words before the turn is over, for an LLM that can start on them.

An STT that transcribes at the caller's pause (the offline Whisper, ``early_secs``) has the
words ~0.1-0.2 s before the turn ends: the VAD's stop wait and the turn model's decision
are still to come. ``EarlyWords`` hands them, as the next user message of the context, to
an LLM service that can evaluate that prompt ahead (``prefill(messages)``, the in-process
llama.cpp model's: ``voicebot.providers.local.llama_prefill``), and stops that work when the
caller speaks again. Nothing is said or written from them: the turn's transcript, the
context and the reply are made as before, and a prefill whose words turn out different is
only wasted work.

The user message is built as Pipecat's user aggregator will build it: the transcripts it
has gathered this turn (``aggregation_string``) joined with the new words.
"""

from __future__ import annotations

from typing import Any

from pipecat.utils.string import TextPartForConcatenation, concatenate_aggregated_text

from voicebot.conversation.pauses import PauseWatch


class EarlyWords:
    """Early transcripts in, prompt prefills out (a ``PauseListener`` too: the caller
    going on stops the prefill)."""

    def __init__(self, llm: Any, context: Any, user_aggregator: Any) -> None:
        self._llm = llm
        self._context = context
        self._aggregator = user_aggregator

    def heard(self, text: str) -> None:
        """An early transcript's words (from the STT's ``early_listeners``)."""
        words = concatenate_aggregated_text(
            [
                TextPartForConcatenation(self._aggregator.aggregation_string(), False),
                TextPartForConcatenation(text, False),
            ]
        )
        self._llm.prefill([*self._context.get_messages(), {"role": "user", "content": words}])

    def caller_paused(self, stop_in_secs: float) -> None:
        pass  # the words come with the transcript, not with the pause

    def caller_resumed(self) -> None:
        self._llm.cancel_prefill()


def prefill_on_early_words(
    watch: PauseWatch | None, stt: Any, llm: Any, context: Any, user_aggregator: Any
) -> EarlyWords | None:
    """Connect an STT with early transcripts to an LLM that prefills (``prefills_early_words``
    true, a ``prefill(messages)`` and a ``cancel_prefill()``); None when either cannot or
    will not (a cloud STT or LLM, a fallback group, no pause watch, prefill turned off)."""
    if (
        watch is None
        or not isinstance(getattr(stt, "early_listeners", None), list)
        or not getattr(llm, "prefills_early_words", False)
    ):
        return None
    words = EarlyWords(llm, context, user_aggregator)
    stt.early_listeners.append(words.heard)
    watch.listeners.append(words)
    return words
