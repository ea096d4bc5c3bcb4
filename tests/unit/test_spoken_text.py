"""Text for the ear: ``to_spoken`` and the TTS hook that applies it to aggregated text."""

from __future__ import annotations

import re
import threading

import pytest
from pipecat.frames.frames import (
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TTSTextFrame,
)
from pipecat.tests.utils import run_test
from pipecat.utils.text.base_text_aggregator import TextType

from voicebot.testing.fake_tts import ToneTTSService
from voicebot.text import ClauseTextAggregator, SpokenTextFilter, spoken_transform, to_spoken

CASES = [
    # times
    ("9:00", "nine"),
    ("We open at 9:00.", "We open at nine."),
    ("9:00 am", "nine a.m."),
    ("9am", "nine a.m."),
    ("Meet at 9 a.m. sharp", "Meet at nine a.m. sharp"),
    ("9 AM.", "nine a.m."),
    ("9:30", "nine thirty"),
    ("17:45", "five forty-five p.m."),
    ("12:00", "twelve"),
    ("12pm", "twelve p.m."),
    ("9:05", "nine oh five"),
    ("00:00", "midnight"),
    ("at 9.30", "at nine thirty"),
    ("9am-6pm", "nine a.m. to six p.m."),
    ("9am to 6pm", "nine a.m. to six p.m."),
    ("9:00-17:00", "nine a.m. to five p.m."),
    ("from 9 to 11am", "from nine to eleven a.m."),
    ("Mon-Fri: 9-5", "Monday to Friday: nine to five"),
    # dates
    ("2026-12-01", "December first, twenty twenty-six"),
    ("Dec 1", "December first"),
    ("Dec. 1st, 2026", "December first, twenty twenty-six"),
    ("on 1 December", "on the first of December"),
    ("the 3rd of May", "the third of May"),
    ("in March 2026", "in March twenty twenty-six"),
    ("1/12", "1/12"),  # the first of December, or the twelfth of January?
    ("on Dec.", "on December."),  # a clause cut after the abbreviation
    # money
    ("$4.50", "four dollars and fifty cents"),
    ("$20", "twenty dollars"),
    ("$1", "one dollar"),
    ("$0.99", "ninety-nine cents"),
    ("£3", "three pounds"),
    ("£0.01", "one penny"),
    ("€3.20", "three euros and twenty cents"),
    ("$1.5M", "one point five million dollars"),
    ("$20k", "twenty thousand dollars"),
    ("$1,250.00", "one thousand two hundred fifty dollars"),
    ("$20/hour", "twenty dollars per hour"),
    ("$5-$10", "five dollars to ten dollars"),
    # numbers
    ("42", "forty-two"),
    ("1,250", "one thousand two hundred fifty"),
    ("3.5", "three point five"),
    ("1.05", "one point zero five"),
    ("1st", "first"),
    ("22nd", "twenty-second"),
    ("15%", "fifteen percent"),
    ("10-15%", "ten to fifteen percent"),
    ("It was -12.5% lower", "It was minus twelve point five percent lower"),
    ("-5", "minus five"),
    ("in 1999", "in nineteen ninety-nine"),
    ("the 1990s and the '80s", "the nineteen nineties and the eighties"),
    ("1999-2001", "nineteen ninety-nine to two thousand one"),
    ("555-0123", "five five five, oh one two three"),
    ("(555) 123-4567", "five five five, one two three, four five six seven"),
    ("+44 20 7946 0958", "plus four four, two oh, seven nine four six, oh nine five eight"),
    ("Order 12345678", "Order one two three four five six seven eight"),
    ("#3", "number three"),
    ("No. 5", "number five"),
    ("007", "oh oh seven"),
    # edge cases
    ("Call 911", "Call nine one one"),
    ("It's 3-5 days", "It's three to five days"),
    ("The score was 3-2.", "The score was three-two."),
    ("Room 101", "Room one oh one"),
    ("Flight 1234 leaves from Gate 12.", "Flight twelve thirty-four leaves from Gate twelve."),
    ("version 2.0", "version two point zero"),
    ("v3.11 and 1.2.3", "version three point eleven and one point two point three"),
    ("1.5 hours", "one point five hours"),
    ("24/7", "twenty-four seven"),
    ("COVID-19", "COVID-nineteen"),
    ("A 3D printer and MP3 files", "A 3D printer and MP3 files"),
    # abbreviations and units
    ("Dr. Smith will see you.", "Doctor Smith will see you."),
    ("Please see the Dr.", "Please see the Doctor."),
    ("It's on Elm Dr.", "It's on Elm Drive."),
    ("Main St.", "Main Street."),
    ("5th St. is closed", "fifth Street is closed"),
    ("St. Louis", "Saint Louis"),
    ("Mon-Fri 9am-5pm", "Monday to Friday nine a.m. to five p.m."),
    ("Sat & Sun: closed", "Saturday and Sunday: closed"),
    ("Sun 10am-4pm", "Sunday ten a.m. to four p.m."),
    ("The Sun is bright.", "The Sun is bright."),
    ("e.g. apples, i.e. fruit, etc.", "for example apples, that is fruit, et cetera."),
    ("approx. 5 km", "approximately five kilometers"),
    ("R&D w/ cheese, w/o sugar", "R and D with cheese, without sugar"),
    ("30 mins or 1 hr", "thirty minutes or one hour"),
    ("5-10 mins", "five to ten minutes"),
    ("5kg", "five kilograms"),
    ("It's -5°C outside", "It's minus five degrees Celsius outside"),
    ("20 °F", "twenty degrees Fahrenheit"),
    ("60 mph", "sixty miles per hour"),
    # markup, links, emoji
    ("**Bold** and *italic* and _under_ and `code`", "Bold and italic and under and code"),
    ("# Opening hours", "Opening hours"),
    ("- item one", "item one"),
    ("snake_case stays", "snake_case stays"),
    ("Visit https://www.example.com/path?x=1.", "Visit example dot com."),
    ("See docs.python.org/3/ for more.", "See docs dot python dot org for more."),
    ("The [docs](https://example.com/docs) say so.", "The docs say so."),
    ("Write to info@example.com today", "Write to info at example dot com today"),
    ("Great job! 🎉👍", "Great job!"),
    (
        "Hours:\n- Mon-Fri: 9-5\n- Sat: closed",
        "Hours: Monday to Friday: nine to five. Saturday: closed",
    ),
    # markup for the TTS itself is passed on as it is
    ("Card <spell>4111</spell>, at 9am", "Card <spell>4111</spell>, at nine a.m."),
    ('Wait<break time="1s"/> 2 secs', 'Wait<break time="1s"/> two seconds'),
    ("if a < 5 and b > 3", "if a < five and b > three"),
    # no numbers, nothing to change: punctuation stays for the voice's pauses
    ("Hello, world! How are you?", "Hello, world! How are you?"),
    ("Well... I'm not sure; maybe (probably) not.", "Well... I'm not sure; maybe (probably) not."),
    ("I am happy at home.", "I am happy at home."),
    ("", ""),
]


@pytest.mark.parametrize(("written", "spoken"), CASES)
def test_written_text_is_rewritten_for_the_ear(written: str, spoken: str) -> None:
    assert to_spoken(written) == spoken


def test_the_table_covers_every_category() -> None:
    assert len(CASES) >= 60


@pytest.mark.parametrize("written", [w for w, _ in CASES] + [s for _, s in CASES])
def test_applying_twice_changes_nothing(written: str) -> None:
    once = to_spoken(written)
    assert to_spoken(once) == once


def test_whitespace_around_the_text_is_kept() -> None:
    # The TTS service appends a trailing space on purpose; the rewrite must not eat it.
    assert to_spoken("  at 9am ") == "  at nine a.m. "
    assert to_spoken("   ") == "   "


def test_numbers_in_a_whole_reply_are_all_read_out() -> None:
    reply = (
        "Sure! The **library** is open Mon-Fri 9am-6pm & Sat 10:00-14:00. A day pass is "
        "$4.50 (approx. 15% off), call 555-0123 or see https://library.example.org/hours."
    )
    spoken = to_spoken(reply)
    assert spoken == (
        "Sure! The library is open Monday to Friday nine a.m. to six p.m. and Saturday ten a.m. "
        "to two p.m. A day pass is four dollars and fifty cents (approximately fifteen percent "
        "off), call five five five, oh one two three or see library dot example dot org."
    )
    assert not re.search(r"[\d$%*&]", spoken)


ADVERSARIAL = [
    "a." * 10_000,
    "1," * 10_000,
    "1-" * 10_000,
    "9:" * 10_000,
    "Mon-" * 5_000,
    "_" * 10_000 + "x",
    "x" + "_" * 10_000 + "x",
    " " * 20_000 + "x",
    "[" * 10_000,
    "a@" * 10_000,
    "www." * 5_000,
    "1" * 5_000,
    "$1.5" * 5_000,
    "\n- 9am" * 10_000,
    "Dec. etc. Dr. " * 2_000,
    "<spell>1" * 5_000,
    "<a" * 10_000,
]


@pytest.mark.parametrize("text", ADVERSARIAL, ids=lambda t: repr(t[:8]))
def test_long_unlucky_input_finishes(text: str) -> None:
    """A backtracking blow-up would run for hours; the bound only turns a hang into a failure
    (the input normally takes well under a second), it does not measure speed."""
    result: list[str] = []
    worker = threading.Thread(target=lambda: result.append(to_spoken(text)), daemon=True)
    worker.start()
    worker.join(timeout=120)
    assert result, "to_spoken did not finish on a long input"
    assert to_spoken(result[0]) == result[0]


async def test_the_transform_reads_sentences_and_leaves_tokens_alone() -> None:
    assert await spoken_transform("Open at 9:30.", TextType.SENTENCE) == "Open at nine thirty."
    assert await spoken_transform("Open at 9:30.", "sentence") == "Open at nine thirty."
    assert await spoken_transform("9", TextType.TOKEN) == "9"
    assert await SpokenTextFilter().filter("It's $20.") == "It's twenty dollars."


async def test_clauses_cut_from_a_stream_keep_times_and_numbers_whole() -> None:
    """The offline voice's aggregator: tokens split inside "9:30", "$4.50", "555-0123"."""
    reply = "Sure, we open at 9:30 a.m., a pass is $4.50, and the desk is on 555-0123. Bye!"
    aggregator = ClauseTextAggregator()
    pieces = []
    for i in range(0, len(reply), 2):  # two characters at a time: "9:", "30", "$4", ".5"
        pieces += [a async for a in aggregator.aggregate(reply[i : i + 2])]
    last = await aggregator.flush()
    pieces += [last] if last else []
    spoken = [await spoken_transform(p.text, p.type) for p in pieces]
    assert [p.text for p in pieces] == [
        "Sure, we open at 9:30 a.m.,",
        "a pass is $4.50, and the desk is on 555-0123.",
        "Bye!",
    ]
    assert spoken == [
        "Sure, we open at nine thirty a.m.,",
        "a pass is four dollars and fifty cents, and the desk is on five five five, oh one two three.",
        "Bye!",
    ]


async def test_a_tts_service_speaks_the_rewrite_and_reports_the_written_words() -> None:
    """Through a real Pipecat TTSService: the transform runs after sentence aggregation, on
    what goes to ``run_tts``; the TTSTextFrames (context, transcripts) keep the LLM's text."""
    tts = ToneTTSService(
        ttfb_secs=0, secs_per_char=0.001, text_transforms=[("*", spoken_transform)]
    )
    reply = "It opens at 9:30 am. Entry is $4.50 for 2 hrs."
    tokens = [reply[i : i + 3] for i in range(0, len(reply), 3)]  # "9:3", "0 a", "$4."
    down, _ = await run_test(
        tts,
        frames_to_send=[
            LLMFullResponseStartFrame(),
            *(LLMTextFrame(t) for t in tokens),
            LLMFullResponseEndFrame(),
        ],
    )
    assert [s.strip() for s in tts.spoken] == [
        "It opens at nine thirty a.m.",
        "Entry is four dollars and fifty cents for two hours.",
    ]
    written = " ".join(f.text for f in down if isinstance(f, TTSTextFrame))
    assert written == reply


def test_a_voice_in_another_language_gets_no_english_rewriting() -> None:
    from voicebot import CartesiaTTS

    assert CartesiaTTS(language="en").text_transforms()
    assert CartesiaTTS(language="en-GB").text_transforms()
    assert CartesiaTTS(language="de").text_transforms() == []
    assert CartesiaTTS(spoken_text=False).text_transforms() == []
