"""Does what the caller has said so far end a sentence? The text's opinion on a turn's end.

Smart-turn hears a pause's audio; on recorded calls it calls 13-29 % of real turn ends "not
yet" (docs/offline.md), and each of those waits for the fallback (2 s). A language model reads
the words instead: after the chat template's user header and the caller's words with their
final punctuation taken off (Whisper puts a full stop after half-said thoughts as often as
not), the model's next-token probability of ``.``, ``?`` or ``!`` is high after "what time do
you open on sunday" and low after "please enter your password followed by the". One forward
pass over the caller's words (~10-30 tokens; the head stays in a context of its own,
``scoring_context``), on the model the bot already runs: ~50-100 ms on two cores.

It is an opinion, not the decision: ``SmartTurn(text_check=...)`` asks it only where the
audio model said "not yet" (``voicebot.providers.turn_strategies``).
"""

from __future__ import annotations

import functools
import re
import threading
from typing import Any

import numpy as np

from voicebot.providers.local.scoring_context import ScoringContext

#: Trailing marks taken off the caller's words before asking the model: STT punctuation.
_TRAILING = re.compile(r"[\s.?!,;:…\-—\"')]+$")
_WORD = re.compile(r"\w")
SENTENCE_MARKS = (".", "?", "!")


@functools.cache
def _mark_tokens(llama: Any) -> tuple[int, ...]:
    """Every token that is a sentence mark, with or without spaces and line breaks around it
    (37 in Qwen2.5's vocabulary; ~0.3 s to find, once per model)."""
    found = []
    for token in range(llama.n_vocab()):
        text = llama.detokenize([token]).decode("utf-8", "ignore").strip()
        if text in SENTENCE_MARKS:
            found.append(token)
    return tuple(found)


def words_only(text: str) -> str:
    """The caller's words as the model is asked about them: spaces collapsed, trailing
    punctuation off."""
    return _TRAILING.sub("", " ".join(text.split()))


#: The model files the threshold was measured with (the ``balanced`` profile, as shipped or
#: re-encoded Q8_0): ``SmartTurn(text_check="auto")`` uses the bot's model only if it is one.
MEASURED_MODELS = ("qwen2.5-coder-0.5b-instruct.gguf", "qwen2.5-coder-0.5b-instruct.q8_0.gguf")


def measured(path: Any) -> bool:
    return str(getattr(path, "name", path)).lower() in MEASURED_MODELS


def chatml(llama: Any) -> bool:
    """Whether the model's chat template is ChatML (Qwen, SmolLM2): the head below is."""
    return "<|im_start|>" in str(getattr(llama, "metadata", {}).get("tokenizer.chat_template", ""))


class SentenceEndScorer:
    """P(the caller's words end a sentence), from a ChatML llama.cpp model (``llama_cpp.Llama``)
    under a system prompt, as if the words were the start of the caller's message.

    Nothing is tokenized or evaluated until the first ``probability`` (which the session
    runs on the model's thread): building one is free. One per model serves every system
    prompt; its context keeps the last prompt's tokens, so a prompt that stays the same
    costs only the caller's words."""

    def __init__(self, llama: Any, *, threads: int = 2) -> None:
        if not chatml(llama):
            raise ValueError("the text check needs a model with a ChatML chat template")
        self._llama = llama
        self._scoring = ScoringContext(llama, n_ctx=2048, threads=threads)
        self._marks: list[int] | None = None

    def probability(
        self, text: str, *, system_prompt: str, after: str | None = None
    ) -> float | None:
        """None when there are no words to judge, or too many for the context. ``after``:
        what the bot said last, as the assistant message before the caller's."""
        words = words_only(text)
        if not _WORD.search(words):
            return None
        if self._marks is None:
            self._marks = list(_mark_tokens(self._llama))
        tokenize = self._scoring.tokenize
        tokens = tokenize("<|im_start|>system\n", special=True)
        tokens += tokenize(system_prompt, special=False)
        tokens += tokenize("<|im_end|>\n", special=True)
        if after and after.strip():
            tokens += tokenize("<|im_start|>assistant\n", special=True)
            tokens += tokenize(" ".join(after.split()), special=False)  # never read as markup
            tokens += tokenize("<|im_end|>\n", special=True)
        tokens += tokenize("<|im_start|>user\n", special=True) + tokenize(words, special=False)
        if len(tokens) >= self._scoring.n_ctx:
            return None
        with self._scoring.lock:
            logits = self._scoring.last_logits(tokens)
        shifted = np.exp(logits - logits.max())
        return float(shifted[self._marks].sum() / shifted.sum())

    def close(self) -> None:
        self._scoring.close()


#: One scorer per loaded model in the process (its own ~25 MB context), whatever the calls'
#: system prompts.
_scorers: dict[int, SentenceEndScorer] = {}
_scorers_lock = threading.Lock()  # sessions may be built on several threads at once
#: How much of the bot's last words the check reads: the question is usually at the end.
AFTER_CHARS = 300


class WordsEndTurn:
    """The check a call's turn strategy awaits: the words' probability of ending a sentence,
    scored on the loaded model's thread under its lock (``llama.LoadedLlama``), so it queues
    behind a reply being written rather than beside it."""

    def __init__(self, loaded: Any, *, system_prompt: str, threshold: float, wait_secs: float):
        self._loaded = loaded
        self.system_prompt = system_prompt
        self.threshold = threshold
        self.wait_secs = wait_secs
        with _scorers_lock:
            fresh = id(loaded.llama) not in _scorers
            if fresh:
                _scorers[id(loaded.llama)] = SentenceEndScorer(loaded.llama)
            self._scorer = _scorers[id(loaded.llama)]
        if fresh:
            # Open the context, find the mark tokens and evaluate the prompt (~0.4 s) now, on
            # the model's thread, not on the first caller's first "not yet"; never waited
            # for (a session is built on the event loop or a builder thread, beside other
            # calls). A failure shows again, logged, at the first real check.
            warming = loaded.thread.submit(lambda: self._score("Hello", None, None))
            warming.add_done_callback(lambda f: f.cancelled() or f.exception())

    def _score(self, text: str, after: str | None, system_prompt: str | None) -> float | None:
        prompt = self.system_prompt if system_prompt is None else system_prompt
        with self._loaded.lock:
            return self._scorer.probability(text, system_prompt=prompt, after=after)

    async def probability(
        self, text: str, *, after: str | None = None, system_prompt: str | None = None
    ) -> float | None:
        """``system_prompt``: the call's prompt now, if it changed since the check was built."""
        result: float | None = await self._loaded.thread.run(
            lambda: self._score(text, after, system_prompt)
        )
        return result

    async def ends_turn(
        self, text: str, *, after: str | None = None, system_prompt: str | None = None
    ) -> bool:
        """``after``: what the bot said last; its last ``AFTER_CHARS`` are kept."""
        said = after[-AFTER_CHARS:] if after else None
        p = await self.probability(text, after=said, system_prompt=system_prompt)
        return p is not None and p >= self.threshold
