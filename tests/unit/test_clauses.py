"""Clause-by-clause cutting of streamed LLM text for the TTS."""

from __future__ import annotations

from voicebot.testing.fake_llm import tokens
from voicebot.text import ClauseTextAggregator


async def pieces(text: str, **kwargs: int) -> list[str]:
    agg = ClauseTextAggregator(**kwargs)
    out = []
    for token in tokens(text):
        out.extend([a.text async for a in agg.aggregate(token)])
    last = await agg.flush()
    if last:
        out.append(last.text)
    return out


async def test_first_clause_is_cut_early_and_later_ones_are_longer() -> None:
    text = (
        "Sure, the library opens at nine, and it closes at six, except on Sundays. Anything else?"
    )
    assert await pieces(text) == [
        "Sure, the library opens at nine,",  # "Sure," alone is under two words
        "and it closes at six,",
        "except on Sundays.",
        "Anything else?",
    ]


async def test_first_piece_needs_two_words_and_marks_inside_words_do_not_cut() -> None:
    got = await pieces("Yes, it opens at 9.30 on weekdays, e.g. Monday. Bye.")
    assert got[0] == "Yes, it opens at 9.30 on weekdays,"
    assert "".join(got).replace(" ", "") == "Yes,itopensat9.30onweekdays,e.g.Monday.Bye."


async def test_long_unpunctuated_text_is_cut_at_max_words_and_nothing_is_lost() -> None:
    words = " ".join(f"w{i}" for i in range(40))
    got = await pieces(words, max_words=10)
    assert all(len(p.split()) <= 10 for p in got)
    assert " ".join(got) == words
