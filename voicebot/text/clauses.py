"""Cut the LLM's streamed text at clauses, not sentences, so speech starts sooner.

Pipecat's default aggregator waits for a whole sentence before the TTS starts; with a local
LLM at ~40 tokens/s a 15-word sentence is ~0.4 s of waiting. Cutting at the first clause
("Sure," / "The library opens at nine,") lets the TTS start after a few words, while later
pieces stay longer so the voice does not sound choppy.

The cutting happens once, before any TTS, in Pipecat's public ``LLMTextProcessor``
(``clause_text_processor``; ``Session`` puts it right before the TTS): every voice (Piper,
Cartesia, the test tone) then gets clauses, and its ``text_transforms`` (``spoken_transform``)
still run on each clause just before synthesis.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from pipecat.processors.aggregators.llm_text_processor import LLMTextProcessor
from pipecat.utils.text.base_text_aggregator import Aggregation, BaseTextAggregator, TextType

SENTENCE_END = ".!?"
CLAUSE_END = ",;:"
FIRST_MIN_WORDS = 2
MIN_WORDS = 5
MAX_WORDS = 16
#: Abbreviations before a name, whose full stop ends no sentence.
TITLES = frozenset({"mr", "mrs", "ms", "dr", "prof", "st", "mt", "jr", "sr", "rev", "gen", "capt"})


def _cut_here(text: str, *, needed: int, max_words: int) -> bool:
    """Whether a piece ends just before ``text``'s last character: a whitespace after a
    sentence end, or after a clause mark with ``needed`` words, or ``max_words`` reached (a
    mark only counts once the next character shows the word ended: "9.30", "e.g.")."""
    if len(text) < 2 or not text[-1].isspace():
        return False
    if len(text.split()) >= max_words:
        return True
    words = text[:-1].split()
    mark = text[-2]
    if mark == "." and words[-1][:-1].lower() in TITLES:
        return False  # "Mr. Dashwood": the voice would say "Mister." as a sentence
    if mark in SENTENCE_END:
        return len(words) >= 1
    return mark in CLAUSE_END and len(words) >= needed


def first_piece_written(
    text: str, *, first_min_words: int = FIRST_MIN_WORDS, max_words: int = MAX_WORDS
) -> bool:
    """Whether ``ClauseTextAggregator`` (same settings) would have cut its first piece from a
    reply that starts with ``text``: the TTS has something to say (``llama_cores``)."""
    return any(
        _cut_here(text[: end + 1], needed=first_min_words, max_words=max_words)
        for end in range(1, len(text))
    )


class ClauseTextAggregator(BaseTextAggregator):
    """Emits text at a sentence end, or at a clause mark once enough words have gathered.

    ``first_min_words`` applies to the first piece of a response (speed matters most),
    ``min_words`` to the rest; ``max_words`` cuts at a word boundary when the model runs on
    without punctuation. A mark only counts once the next character shows the word ended
    (so "9.30" and "e.g." are not cut).
    """

    def __init__(
        self,
        *,
        first_min_words: int = FIRST_MIN_WORDS,
        min_words: int = MIN_WORDS,
        max_words: int = MAX_WORDS,
    ):
        super().__init__(aggregation_type=TextType.SENTENCE)
        self._first_min_words = first_min_words
        self._min_words = min_words
        self._max_words = max_words
        self._text = ""
        self._emitted = 0

    @property
    def text(self) -> Aggregation:
        return Aggregation(text=self._text.strip(" "), type=TextType.SENTENCE)

    async def aggregate(self, text: str) -> AsyncIterator[Aggregation]:
        for char in text:
            self._text += char
            needed = self._first_min_words if self._emitted == 0 else self._min_words
            if _cut_here(self._text, needed=needed, max_words=self._max_words):
                yield self._cut(len(self._text) - 1)

    def _cut(self, end: int) -> Aggregation:
        piece, self._text = self._text[:end].strip(), self._text[end:].lstrip()
        self._emitted += 1
        return Aggregation(text=piece, type=TextType.SENTENCE)

    async def flush(self) -> Aggregation | None:
        piece = self._text.strip()
        self._text = ""
        self._emitted = 0
        return Aggregation(text=piece, type=TextType.SENTENCE) if piece else None

    async def handle_interruption(self) -> None:
        await self.reset()

    async def reset(self) -> None:
        self._text = ""
        self._emitted = 0


def clause_text_processor(**aggregator: int) -> LLMTextProcessor:
    """Pipecat's ``LLMTextProcessor`` cutting the LLM's text at clauses, to put before a TTS.

    The TTS then receives ``AggregatedTextFrame``s, speaks each as it comes and no longer
    aggregates itself. ``aggregator`` goes to ``ClauseTextAggregator`` (``first_min_words``,
    ``min_words``, ``max_words``).
    """
    return LLMTextProcessor(text_aggregator=ClauseTextAggregator(**aggregator))
