"""Steer a small local model away from saying an earlier reply of the call again.

A 0.5 B model shown its own earlier replies in the history tends to copy them: from about
the third turn on, replies repeat a previous one nearly word for word
(``benchmarks/offline_repeats.py``). llama.cpp's repetition, presence and frequency
penalties cannot help: llama-cpp-python's sampler only sees the tokens of the reply being
generated, never the prompt the earlier replies sit in.

``EarlierReplyPenalty`` is a llama-cpp-python logits processor in the spirit of the DRY
sampler, restricted to the earlier replies: when the tokens just generated match a stretch
of an earlier reply, the token that came next there is made less likely, the more the
longer the match (``multiplier * base ** (match - allowed)``). A shared word or two
("brake pads", "you can") costs nothing; a copied sentence soon becomes unlikely, and the
model says it in other words.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class EarlierReplyPenalty:
    """``logits_processor`` for one generation: ``replies`` are the call's earlier replies
    as token lists. Built fresh per reply (it remembers where the prompt ends)."""

    def __init__(
        self,
        replies: Sequence[Sequence[int]],
        *,
        multiplier: float,
        base: float = 1.75,
        allowed: int = 2,
    ) -> None:
        self.replies = [list(r) for r in replies if r]
        self.multiplier = multiplier
        self.base = base
        self.allowed = allowed
        # token -> where it occurs: (reply, position), for the positions that have a next token
        self._at: dict[int, list[tuple[int, int]]] = {}
        for ri, reply in enumerate(self.replies):
            for pos, token in enumerate(reply[:-1]):
                self._at.setdefault(token, []).append((ri, pos))
        self._prompt_len: int | None = None

    def penalties(self, generated: Sequence[int]) -> dict[int, float]:
        """Token -> how much to lower its logit after ``generated``."""
        if not generated:
            return {}
        out: dict[int, float] = {}
        for ri, pos in self._at.get(generated[-1], ()):
            reply = self.replies[ri]
            match = 1  # generated[-match:] == reply[pos - match + 1 : pos + 1]
            while (
                match <= pos
                and match < len(generated)
                and generated[-1 - match] == reply[pos - match]
            ):
                match += 1
            if match >= self.allowed:
                token = reply[pos + 1]
                cost = self.multiplier * self.base ** (match - self.allowed)
                out[token] = max(out.get(token, 0.0), cost)
        return out

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        # llama-cpp-python passes every token evaluated so far: the prompt, then the reply.
        if self._prompt_len is None:
            self._prompt_len = len(input_ids)
        generated = [int(t) for t in input_ids[self._prompt_len :]]
        for token, cost in self.penalties(generated).items():
            scores[token] -= cost
        return scores


def earlier_reply_penalty(
    llama: Any, replies: Sequence[str], multiplier: float
) -> EarlierReplyPenalty | None:
    """The penalty over these earlier replies for ``llama``'s tokens; None if there is
    nothing to steer away from (first turn, or ``multiplier`` 0)."""
    if multiplier <= 0 or not replies:
        return None
    # Tokenized as in the chat template (a reply's first word without its leading space),
    # and with the space, as the same words read when they come mid-reply.
    token_lists = [
        llama.tokenize(text.encode(), add_bos=False, special=False)
        for reply in replies
        for text in (reply, " " + reply)
    ]
    return EarlierReplyPenalty(token_lists, multiplier=multiplier)
