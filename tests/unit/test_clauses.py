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
    assert got[0] == "Yes, it opens at 9.30"  # before "on", which opens a phrase
    assert "".join(got).replace(" ", "") == "Yes,itopensat9.30onweekdays,e.g.Monday.Bye."


async def test_long_unpunctuated_text_is_cut_at_max_words_and_nothing_is_lost() -> None:
    words = " ".join(f"w{i}" for i in range(40))
    got = await pieces(words, max_words=10)
    assert all(len(p.split()) <= 10 for p in got)
    assert " ".join(got) == words


async def test_before_a_tts_the_voice_gets_clauses_rewritten_and_the_context_the_words() -> None:
    """``clause_text_processor()`` ahead of a real Pipecat TTS (as ``Session`` places it): the
    TTS synthesizes each clause as it is cut, its ``text_transforms`` (``spoken_transform``)
    still run on each clause, and the spoken-text frames carry the LLM's own words."""
    import asyncio

    from pipecat.frames.frames import (
        LLMFullResponseEndFrame,
        LLMFullResponseStartFrame,
        LLMTextFrame,
        TTSTextFrame,
    )
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.tests.utils import run_test

    from voicebot.testing.fake_tts import ToneTTSService
    from voicebot.text.clauses import clause_text_processor
    from voicebot.text.spoken_filter import spoken_transform

    tts = ToneTTSService(
        ttfb_secs=0, secs_per_char=0.001, text_transforms=[("*", spoken_transform)]
    )
    reply = "Sure, we open at 9:30 tomorrow, and close at 6. Bye!"
    frames = [LLMFullResponseStartFrame(), *map(LLMTextFrame, tokens(reply))]
    down, _ = await asyncio.wait_for(
        run_test(
            Pipeline([clause_text_processor(), tts]),
            frames_to_send=[*frames, LLMFullResponseEndFrame()],
        ),
        timeout=30,  # only so a broken pipeline fails rather than hangs
    )
    assert tts.spoken == [
        "Sure, we open at nine thirty tomorrow,",
        "and close at six.",
        "Bye!",
    ]
    said = [f.text for f in down if isinstance(f, TTSTextFrame)]
    assert said == ["Sure, we open at 9:30 tomorrow,", "and close at 6.", "Bye!"]


async def test_first_piece_written_agrees_with_the_aggregator_on_every_prefix() -> None:
    from voicebot.text.clauses import first_piece_written

    for text in (
        "Sure, the library opens at nine, and it closes at six.",
        "Yes, it opens at 9.30 on weekdays, e.g. Monday. Bye.",
        "Hi. There.",
        "Mr. John Dashwood, as Dr. Smith says, is here.",
        " ".join(f"w{i}" for i in range(20)),
    ):
        first = (await pieces(text))[0]
        for end in range(len(text) + 1):
            agg = ClauseTextAggregator()
            cut = [a.text async for a in agg.aggregate(text[:end])]
            assert first_piece_written(text[:end]) == bool(cut), (text, end)
            if cut:
                assert cut[0] == first


async def test_a_title_before_a_name_ends_no_piece() -> None:
    got = await pieces("Mr. John Dashwood could help, and Mrs. Dashwood too. Ask Dr. Lee.")
    assert got[0] == "Mr. John Dashwood could help,"
    assert got[1] == "and Mrs. Dashwood too."
    assert got[-1] == "Ask Dr. Lee."


async def test_a_first_piece_with_no_comma_ends_before_a_phrase_or_at_ten_words() -> None:
    got = await pieces(
        "Mr. John Dashwood's power to do for them could be more prudent than it was."
    )
    assert got == ["Mr. John Dashwood's power to do", "for them could be more prudent than it was."]
    numbers = " ".join(["word"] * 14) + "."
    first = (await pieces(numbers))[0]
    assert len(first.split()) == 10
    # only the first piece: later ones wait for a mark (or max_words) as before
    got = await pieces("Sure, here it is. The clinic is open from nine until five with a break.")
    assert got == ["Sure, here it is.", "The clinic is open from nine until five with a break."]


async def test_whitespace_before_any_word_is_kept_and_cuts_nothing() -> None:
    from voicebot.text.clauses import first_piece_written

    assert await pieces("  \n Sure, it is.") == ["Sure, it is."]
    assert not first_piece_written(" \n  ")
