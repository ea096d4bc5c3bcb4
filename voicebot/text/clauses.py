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
from typing import Any

from pipecat.processors.aggregators.llm_text_processor import LLMTextProcessor
from pipecat.utils.text.base_text_aggregator import Aggregation, BaseTextAggregator, TextType

SENTENCE_END = ".!?"
CLAUSE_END = ",;:"
FIRST_MIN_WORDS = 2
MIN_WORDS = 5
MAX_WORDS = 16
#: The first piece, which the caller waits for, ends sooner: before a word opening a phrase
#: once this many words came, and at this many words at the latest.
FIRST_PHRASE_WORDS = 5
FIRST_MAX_WORDS = 10
#: Words that open a phrase: a first piece may end before one ("Mr. Dashwood's power to do |
#: for them ..."), so the voice starts after a few words on a sentence with no comma.
PHRASE_OPENERS = frozenset(
    [
        "and",
        "but",
        "or",
        "so",
        "because",
        "if",
        "when",
        "while",
        "which",
        "that",
        "who",
        "where",
        "to",
        "for",
        "with",
        "in",
        "on",
        "at",
        "by",
        "from",
        "as",
        "than",
        "about",
        "after",
        "before",
        "until",
        "unless",
        "since",
        "though",
        "although",
    ]
)
#: Abbreviations before a name, whose full stop ends no sentence.
TITLES = frozenset({"mr", "mrs", "ms", "dr", "prof", "st", "mt", "jr", "sr", "rev", "gen", "capt"})


def _cut_at(
    text: str, *, needed: int, max_words: int, phrase_words: int | None = None
) -> int | None:
    """Where a piece ends in ``text`` as its last character arrives, or None. Only at a
    whitespace that shows a word ended ("9.30", "e.g." are not cut): after a sentence end;
    after a clause mark with ``needed`` words; at ``max_words``; and, with ``phrase_words``,
    before a word that opens a phrase ("to", "for", "because", ...) once that many words
    precede it (the piece ends before that word, which starts the next one)."""
    if len(text) < 2 or not text[-1].isspace():
        return None
    end = len(text) - 1
    words = text[:end].split()
    if not words:
        return None  # whitespace only so far
    if len(words) >= max_words:
        return end
    mark = text[-2]
    if mark == "." and words[-1][:-1].lower() in TITLES:
        return None  # "Mr. Dashwood": the voice would say "Mister." as a sentence
    if mark in SENTENCE_END:
        return end
    if mark in CLAUSE_END and len(words) >= needed:
        return end
    opens_phrase = words[-1].lower() in PHRASE_OPENERS
    if phrase_words is not None and len(words) > phrase_words and opens_phrase:
        return end - len(words[-1])
    return None


def first_piece_written(text: str) -> bool:
    """Whether ``ClauseTextAggregator`` (default settings) would have cut its first piece
    from a reply that starts with ``text``: the TTS has something to say (``llama_cores``)."""
    return any(
        _cut_at(
            text[: end + 1],
            needed=FIRST_MIN_WORDS,
            max_words=FIRST_MAX_WORDS,
            phrase_words=FIRST_PHRASE_WORDS,
        )
        is not None
        for end in range(1, len(text))
    )


class ClauseTextAggregator(BaseTextAggregator):
    """Emits text at a sentence end, or at a clause mark once enough words have gathered.

    ``first_min_words`` applies to the first piece of a response (speed matters most),
    ``min_words`` to the rest; ``max_words`` cuts at a word boundary when the model runs on
    without punctuation. The first piece also ends before a word opening a phrase after
    ``first_phrase_words`` words (None: not), and at ``first_max_words``. A mark only counts
    once the next character shows the word ended (so "9.30" and "e.g." are not cut).
    """

    def __init__(
        self,
        *,
        first_min_words: int = FIRST_MIN_WORDS,
        min_words: int = MIN_WORDS,
        max_words: int = MAX_WORDS,
        first_max_words: int = FIRST_MAX_WORDS,
        first_phrase_words: int | None = FIRST_PHRASE_WORDS,
    ):
        super().__init__(aggregation_type=TextType.SENTENCE)
        self._first_min_words = first_min_words
        self._first_max_words = first_max_words
        self._first_phrase_words = first_phrase_words
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
            first = self._emitted == 0
            cut = _cut_at(
                self._text,
                needed=self._first_min_words if first else self._min_words,
                max_words=self._first_max_words if first else self._max_words,
                phrase_words=self._first_phrase_words if first else None,
            )
            if cut is not None:
                yield self._cut(cut)

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


def clause_text_processor(**aggregator: Any) -> LLMTextProcessor:
    """Pipecat's ``LLMTextProcessor`` cutting the LLM's text at clauses, to put before a TTS.

    The TTS then receives ``AggregatedTextFrame``s, speaks each as it comes and no longer
    aggregates itself. ``aggregator`` goes to ``ClauseTextAggregator`` (``first_min_words``,
    ``min_words``, ``max_words``, ``first_max_words``, ``first_phrase_words``).
    """
    return LLMTextProcessor(text_aggregator=ClauseTextAggregator(**aggregator))
