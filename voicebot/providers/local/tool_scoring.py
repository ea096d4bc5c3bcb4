"""A second opinion on the tool choice from the loaded LLM: likelihoods, not generation.

Sentence embeddings (``tool_router.ToolRouter``) place a request near the tool whose topic
it shares, which is not always the one it asks for ("is there wifi on the flight" sits near
``flight_status``). An instruction-tuned LLM reads intent better, but a small one asked to
*generate* a choice wanders. So the model only scores: after a prompt that lists the tools
as lettered options (plus "none of these") under two worked examples from made-up shops,
one forward pass over the request gives the log-probability of each option's letter.

The prompt up to the request is the same for every request to a tool set: it stays in a
llama.cpp context of its own (sharing the model's weights, not the chat's context, whose
cache it would otherwise evict), so a request costs only its own ~20 tokens. Measured
(benchmarks/offline_tool_routing.py, docs/offline.md): with Qwen2.5-Coder-1.5B ("quality")
the mix with the embeddings gets ~5 more of 175 requests right at ~0.5 s a request on two
cores; Qwen2.5-Coder-0.5B ("balanced") scores near chance and adds nothing. With the tools'
examples the router gets as far alone: +2 of 537 with the 1.5B added
(benchmarks/tool_scorer_mix.py). So it is an opt-in (``ToolRouter(scorer=...)``), not the
default.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from voicebot.providers.local.scoring_context import ScoringContext
from voicebot.providers.local.tool_router import ToolSpec, name_words

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_SYSTEM = (
    "You answer the phone for a business. For each caller request, reply with the letter of "
    "the action that does what the caller asks, or the letter of 'none of these' for small "
    "talk and for questions that no action does."
)
# Worked examples from shops unlike any tool set measured: they teach the format and that
# a question near a tool's topic is not a request for it.
_DEMOS: tuple[tuple[tuple[tuple[str, str], ...], tuple[tuple[str, int], ...]], ...] = (
    (
        (
            ("order pizza", "Order a pizza for delivery to an address."),
            ("track order", "Where an order is now, by its order number."),
            ("cancel order", "Cancel an order by its order number."),
        ),
        (
            ("yeah so could you send a large pepperoni over to 12 elm street", 0),
            ("hmm i changed my mind about number 4471 forget it", 2),
            ("do you guys have gluten free crust", 3),
            ("is my food on the way it's order 88", 1),
            ("thanks bye", 3),
        ),
    ),
    (
        (
            ("renew book", "Extend the loan of a borrowed book."),
            ("reserve room", "Reserve a study room on a day at an hour."),
            ("opening hours", "The library's opening hours on a day of the week."),
            ("report lost card", "Block a library card that was lost or stolen."),
        ),
        (
            ("can i get room two for tuesday at three", 1),
            ("when do you close on saturday", 2),
            ("hi how are you today", 4),
            ("i need a bit more time with the novel i borrowed", 0),
            ("can i print stuff there", 4),
            ("somebody took my wallet with my card in it", 3),
        ),
    ),
)


def _listing(actions: Sequence[tuple[str, str]]) -> str:
    lines = [f"{LETTERS[i]}) {name}: {text}" for i, (name, text) in enumerate(actions)]
    lines.append(f"{LETTERS[len(actions)]}) none of these")
    return "Actions:\n" + "\n".join(lines)


def prompt_prefix(tools: list[ToolSpec]) -> str:
    """The prompt up to the request (ChatML, Qwen's template): constant per tool set."""
    text = f"<|im_start|>system\n{_SYSTEM}<|im_end|>\n"
    for demo_actions, requests in _DEMOS:
        for i, (request, answer) in enumerate(requests):
            head = _listing(demo_actions) + "\n\n" if i == 0 else ""
            text += f"<|im_start|>user\n{head}Caller: {request}<|im_end|>\n"
            text += f"<|im_start|>assistant\n{LETTERS[answer]}<|im_end|>\n"
    actions = [(name_words(t.name), t.description.strip()) for t in tools]
    return text + f"<|im_start|>user\n{_listing(actions)}\n\nCaller: "


_SUFFIX = "<|im_end|>\n<|im_start|>assistant\n"


class LLMToolScorer:
    """Log-probabilities of each tool, and of "none" (last), for a request, by a llama.cpp
    model (``llama_cpp.Llama``) in a context of its own that keeps the tool set's prefix."""

    def __init__(self, llama: Any, *, n_ctx: int = 2048, threads: int = 2) -> None:
        self._scoring = ScoringContext(llama, n_ctx=n_ctx, threads=threads)

    def close(self) -> None:
        self._scoring.close()

    def _tokenize(self, text: str, special: bool) -> list[int]:
        return self._scoring.tokenize(text, special=special)

    def log_probs(self, tools: list[ToolSpec], request: str) -> np.ndarray | None:
        """One log-probability per tool and one for "none" (normalised over the options), or
        None when the tools do not fit (more than 25, or a prompt longer than the context)."""
        if not tools or len(tools) >= len(LETTERS):
            return None
        prefix = self._tokenize(prompt_prefix(tools), special=True)
        tokens = prefix + self._tokenize(" ".join(request.split()), special=False)
        tokens += self._tokenize(_SUFFIX, special=True)
        letters = [self._tokenize(letter, special=False) for letter in LETTERS[: len(tools) + 1]]
        if len(tokens) > self._scoring.n_ctx or any(len(t) != 1 for t in letters):
            return None
        with self._scoring.lock:
            logits = self._scoring.last_logits(tokens)[[t[0] for t in letters]]
        shifted = logits - logits.max()
        return shifted - float(np.log(np.exp(shifted).sum()))
