"""ReplyGuard: a small model's streamed reply loses echoes and loops, and ends on time."""

from __future__ import annotations

import pytest

from voicebot.text.reply_guard import ReplyGuard


def stream(guard: ReplyGuard, tokens: list[str]) -> str:
    out = ""
    for t in tokens:
        out += guard.feed(t)
        if guard.stopped:
            break
    return out + guard.finish()


def tokens(text: str) -> list[str]:
    """Split like a tokenizer does: words with their leading space, some cut in two."""
    out: list[str] = []
    for i, word in enumerate(text.split(" ")):
        piece = word if i == 0 else " " + word
        out.extend([piece[:3], piece[3:]] if len(piece) > 5 else [piece])
    return [t for t in out if t]


def test_a_normal_reply_passes_unchanged() -> None:
    reply = "Canberra is the capital of Australia, and it was chosen as a compromise."
    g = ReplyGuard(request="What's the capital of Australia?")
    assert stream(g, tokens(reply)) == reply
    assert not g.stopped


def test_a_reply_that_restates_the_question_is_not_an_echo() -> None:
    reply = "The tallest mountain in the world is Mount Everest."
    g = ReplyGuard(request="What's the tallest mountain in the world?")
    assert stream(g, tokens(reply)) == reply


def test_an_echo_of_the_caller_is_dropped_and_the_rest_spoken() -> None:
    g = ReplyGuard(request="I lost my dog yesterday.")
    said = stream(g, tokens("I lost my dog yesterday. I'm so sorry, have you called the shelter?"))
    assert said == "I'm so sorry, have you called the shelter?"


def test_a_short_greeting_answered_in_kind_is_kept() -> None:
    g = ReplyGuard(request="Hi there")
    assert stream(g, tokens("Hi there! How can I help?")) == "Hi there! How can I help?"


def test_a_loop_is_cut_before_the_repeat_is_spoken() -> None:
    g = ReplyGuard(request="What is it?")
    loop = 'The answer to this question is "The answer to this question is "The answer'
    assert stream(g, tokens(loop)) == "The answer to this question is"
    assert g.stopped and g.reason == "loop"


def test_a_common_word_said_twice_is_not_a_loop() -> None:
    reply = "Boil the water, pour the water on the tea, and wait for the tea to steep."
    g = ReplyGuard(request="How do I make tea?")
    assert stream(g, tokens(reply)) == reply


def test_a_long_reply_ends_at_the_first_sentence_end_past_the_cap() -> None:
    reply = "One two three four five six. Seven eight nine ten eleven twelve. More words here."
    g = ReplyGuard(request="Count", max_words=8)
    assert (
        stream(g, tokens(reply))
        == "One two three four five six. Seven eight nine ten eleven twelve."
    )
    assert g.reason == "length"


def test_a_reply_without_sentence_ends_stops_at_the_hard_cap() -> None:
    g = ReplyGuard(request="Go", max_words=5, hard_max_words=12)
    said = stream(g, tokens(" ".join(f"w{i}" for i in range(40))))
    assert len(said.split()) == 12


@pytest.mark.parametrize("pieces", [["Hel", "lo", " wor", "ld", "."], ["Hello", " ", "world."]])
def test_words_split_across_tokens_come_out_whole(pieces: list[str]) -> None:
    assert stream(ReplyGuard(request="x"), pieces) == "Hello world."


def test_all_of_a_long_echo_is_dropped_not_just_its_first_words() -> None:
    g = ReplyGuard(request="What time do you open on Sunday?")
    said = stream(g, tokens("What time do you open on Sunday? We open at nine."))
    assert said == "We open at nine."
