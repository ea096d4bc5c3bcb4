"""Whisper's repeats ("four" -> "4, 4,") are taken out of the transcript, and known."""

from __future__ import annotations

import pytest

from voicebot.providers.local.whisper_repeats import repeats_itself, without_repeats


@pytest.mark.parametrize(
    ("decoded", "said"),
    [
        ("4, 4,", "4,"),
        ("17 17 17", "17"),
        ("Second. Second.", "Second."),
        ("8 of spades 8 of Spades 8", "8 of spades"),  # and a third, cut short
        ("Agent logged in. Agent logged-in. Agent log", "Agent logged in."),
        ("has joined the conference. Has joined the Conference?", "has joined the conference."),
        ("sit sit sit Sit sit sit", "sit"),
        ("Bye bye.", "Bye."),
    ],
)
def test_a_repeat_is_removed_and_the_first_saying_kept_as_written(decoded: str, said: str) -> None:
    assert repeats_itself(decoded)
    assert without_repeats(decoded) == said


@pytest.mark.parametrize(
    "text",
    [  # a repeat mid-sentence, or of numbers after other words, is the caller's
        "My PIN is 1 1 2 3.",
        "0 7 7 0 0 9 0 0 1 2 3",
        "my number ends 1 2 0 0",
        "Room 4 4 please",
        "I had had enough.",
        "I said no. No one came.",
        "Thank you thank you, and the same to you",
        "24/7 please",
    ],
)
def test_a_repeat_that_is_not_the_decoder_running_on_is_kept(text: str) -> None:
    assert without_repeats(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "Four of clubs, seven of hearts.",
        "I'd like to book a table for two at seven.",
        "We open at nine and we",  # a trailing word like the start is kept without a repeat
        "Boil the water, pour the water on the tea.",
        "",
    ],
)
def test_text_without_an_immediate_repeat_is_left_alone(text: str) -> None:
    assert not repeats_itself(text)
    assert without_repeats(text) == text
