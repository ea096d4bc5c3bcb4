"""What of an interrupted reply the caller heard: the estimate and the frames it yields."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from pipecat.frames.frames import (
    AggregatedTextFrame,
    Frame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    SystemFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
)
from pipecat.tests.utils import run_test

from voicebot.processors.heard_text import (
    CUT_MARKER,
    DEFAULT_SECS_PER_CHAR,
    HeardText,
    HeardTextFrame,
    heard_prefix,
)

RATE = 24000
CHUNK = 0.04  # seconds per audio frame, as the output transport plays them


@pytest.mark.parametrize(
    ("fraction", "heard"),
    [
        (0.0, ""),
        (0.05, ""),  # less than the first word
        (0.075, "We"),  # "We" is 2 of the 27 characters
        (0.25, "We"),  # "open" ends at 7 / 27 = 0.26: half a word is not heard
        (0.26, "We open"),
        (0.5, "We open at"),
        (0.6, "We open at nine,"),  # punctuation goes with its word
        (0.99, "We open at nine, every"),
        (1.0, "We open at nine, every day."),
        (1.7, "We open at nine, every day."),
        (-1.0, ""),
    ],
)
def test_heard_prefix_keeps_the_whole_words_inside_the_fraction(
    fraction: float, heard: str
) -> None:
    assert heard_prefix("We open at nine, every day.", fraction) == heard


def test_heard_prefix_counts_spacing_as_it_is_written() -> None:
    assert heard_prefix("  Yes,   of course. ", 0.5) == "Yes,"
    assert heard_prefix("", 0.5) == ""


def test_a_clause_length_is_measured_once_synthesized_and_estimated_before() -> None:
    heard = HeardText()
    heard.clause_announced(1)
    heard.clause_audio(1, 0.5)
    # Still being synthesized: at least what was made, at least the estimate.
    assert heard.total_secs(1, "x" * 10) == pytest.approx(10 * DEFAULT_SECS_PER_CHAR)
    assert heard.total_secs(1, "x") == pytest.approx(0.5)
    heard.clause_audio(1, 1.5)
    heard.clause_synthesized(1, "x" * 25)
    heard.clause_audio(1, 9.0)  # silence after the clause is not part of it
    assert heard.total_secs(1, "x" * 25) == pytest.approx(2.0)
    # Unknown clauses are estimated at the rate measured on finished ones (2 s / 25 chars).
    assert heard.secs_per_char == pytest.approx(0.08)
    assert heard.total_secs(99, "x" * 10) == pytest.approx(0.8)


def announce(text: str, *, pts: int | None = None) -> AggregatedTextFrame:
    frame = AggregatedTextFrame(text, "sentence")
    frame.will_be_spoken = True
    frame.append_to_context = False  # as the TTS announces it
    frame.pts = pts
    return frame


def audio(secs: float) -> list[Frame]:
    n = round(secs / CHUNK)
    return [TTSAudioRawFrame(b"\x00\x01" * int(RATE * CHUNK), RATE, 1) for _ in range(n)]


def spoken(segment: AggregatedTextFrame) -> TTSTextFrame:
    return TTSTextFrame(segment.text, "sentence", segment_id=segment.id)


FIRST = "We open at nine."  # 16 characters: 0.8 s at 0.05 s a character
SECOND = "On Saturdays we open at ten."  # 28 characters: 1.4 s


async def play(
    heard: HeardText, synthesized: Sequence[Frame], played: Sequence[Frame]
) -> list[Frame]:
    """Run the synthesis side over what the TTS made and the playback side over what the
    transport played (then an interruption); return what reached the aggregator."""
    await run_test(heard.synthesis, frames_to_send=list(synthesized))
    down, _ = await run_test(heard.playback, frames_to_send=[*played, InterruptionFrame()])
    return list(down)


def texts(frames: Sequence[Frame]) -> list[str]:
    return [f.text for f in frames if isinstance(f, HeardTextFrame)]


async def test_the_heard_words_of_the_clause_being_spoken_come_before_the_interruption() -> None:
    first, second = announce(FIRST), announce(SECOND)
    reply = [
        LLMFullResponseStartFrame(),
        first,
        TTSStartedFrame(),
        *audio(0.8),
        spoken(first),
        second,
        *audio(1.4),
        spoken(second),
        TTSStoppedFrame(),
        LLMFullResponseEndFrame(),
    ]
    # The first clause played to its end, then 0.8 s of the second (0.76 s surely heard:
    # the last chunk may still be playing), which is 54% of it, 15.2 of its 28 characters:
    # "On Saturdays we" (15) and not "open" (20).
    played = reply[: reply.index(second) + 1] + audio(0.8)
    down = await play(HeardText(), reply, played)

    assert texts(down) == [f"On Saturdays we {CUT_MARKER}"]
    heard = next(f for f in down if isinstance(f, HeardTextFrame))
    assert isinstance(heard, SystemFrame) and heard.append_to_context
    assert down.index(heard) + 1 == next(
        i for i, f in enumerate(down) if isinstance(f, InterruptionFrame)
    )


async def test_a_clause_not_yet_fully_synthesized_is_measured_by_the_estimate() -> None:
    first = announce(FIRST)
    # 0.4 s made so far and played (0.36 s surely heard), of an estimated 16 * 0.05 s: 45%,
    # 7.2 characters. Taking the 0.4 s made so far as the whole would claim "We open at".
    made = [LLMFullResponseStartFrame(), first, TTSStartedFrame(), *audio(0.4)]
    down = await play(HeardText(secs_per_char=0.05), made, made)
    assert texts(down) == [f"We open {CUT_MARKER}"]


async def test_a_cut_between_clauses_marks_the_reply_and_adds_no_words() -> None:
    first, second = announce(FIRST), announce(SECOND)
    reply = [LLMFullResponseStartFrame(), first, TTSStartedFrame(), *audio(0.8), spoken(first)]
    down = await play(HeardText(), [*reply, second], [*reply, second])
    assert texts(down) == [CUT_MARKER]


async def test_nothing_is_added_when_no_whole_word_was_heard() -> None:
    first = announce(FIRST)
    reply = [LLMFullResponseStartFrame(), first, TTSStartedFrame(), *audio(0.8)]
    down = await play(HeardText(), reply, reply[:3] + audio(0.08))
    assert texts(down) == []
    assert any(isinstance(f, InterruptionFrame) for f in down)


async def test_a_reply_that_played_to_its_end_is_left_alone() -> None:
    first = announce(FIRST)
    reply = [
        LLMFullResponseStartFrame(),
        first,
        TTSStartedFrame(),
        *audio(0.8),
        spoken(first),
        TTSStoppedFrame(),
        LLMFullResponseEndFrame(),
    ]
    down = await play(HeardText(), reply, reply)
    assert texts(down) == []


async def test_text_kept_out_of_the_context_stays_out() -> None:
    first = announce(FIRST)
    started = TTSStartedFrame(append_to_context=False)
    reply = [first, started, *audio(0.8)]
    down = await play(HeardText(), reply, reply[:2] + audio(0.6))
    assert texts(down) == []


async def test_an_uninterruptible_clause_keeps_playing_and_adds_nothing() -> None:
    first = announce(FIRST)
    first.interruptible = False
    reply = [LLMFullResponseStartFrame(), first, TTSStartedFrame(), *audio(0.8)]
    down = await play(HeardText(), reply, reply[:3] + audio(0.6))
    assert texts(down) == []


async def test_with_word_timestamps_only_the_cut_is_marked() -> None:
    # The transport released the words whose audio played; the aggregator has them.
    first = announce(FIRST, pts=1)
    word = TTSTextFrame("We", "word", segment_id=first.id)
    word.pts = 2
    reply = [LLMFullResponseStartFrame(), first, TTSStartedFrame(), *audio(0.4), word]
    down = await play(HeardText(), reply, reply)
    assert texts(down) == [CUT_MARKER]
