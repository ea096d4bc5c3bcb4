"""``to_spoken`` as a Pipecat TTS hook, applied to aggregated text just before synthesis.

The LLM's tokens are cut into pieces first: into clauses by the ``LLMTextProcessor`` a voicebot
session puts before the TTS (``voicebot.text.clauses``), or into sentences by the TTS itself
when it is used alone. Then, for each piece, the Pipecat ``TTSService`` runs its
``text_filters`` and after them its ``text_transforms``, and only then calls ``run_tts``. A
time or a price split across tokens ("9", ":", "30") is whole again by then
(``tests/unit/test_clauses.py`` checks this through a real TTS service).

The rewrite reaches the synthesizer only. The context and the words reported as spoken keep
the LLM's text ("9:30", not "nine thirty"): services without word timestamps (Piper) report
the untransformed piece, and those with them (Cartesia) map the vendor's words back through
Pipecat's ``TextSegmentMap``.

Prefer ``spoken_transform`` (``text_transforms=[("*", spoken_transform)]``). Pipecat 1.14
deprecates ``text_filters`` (a warning when a service is given one; removal in 2.0), so
``SpokenTextFilter`` is there only for code that already uses filters.
"""

from __future__ import annotations

from pipecat.utils.text.base_text_aggregator import TextType
from pipecat.utils.text.base_text_filter import BaseTextFilter

from voicebot.text.spoken import to_spoken

#: Types that are only part of a sentence: a number in them may continue in the next one.
PIECES = frozenset({TextType.TOKEN, TextType.WORD})


async def spoken_transform(text: str, text_type: str | TextType) -> str:
    """Pipecat ``TextTransform``: ``to_spoken`` on sentences and clauses.

    Tokens pass through unchanged. A service streaming tokens (``text_aggregation_mode=
    TextAggregationMode.TOKEN``) never holds a whole clause, and reading "9" and ":30" apart
    would be worse than reading "9:30" as written.
    """
    return text if text_type in PIECES else to_spoken(text)


class SpokenTextFilter(BaseTextFilter):
    """``to_spoken`` through Pipecat's deprecated ``text_filters`` hook.

    A filter is not told the text's type, so this one only suits a service that aggregates
    sentences (the default): use ``spoken_transform`` where you can.
    """

    async def filter(self, text: str) -> str:
        return to_spoken(text)
