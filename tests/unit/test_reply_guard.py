"""ReplyGuard: a small model's streamed reply loses echoes and loops, and ends on time."""

from __future__ import annotations

import pytest

from voicebot.text.reply_guard import ReplyGuard, asks_to_repeat


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


# ---- earlier replies of the call -----------------------------------------------------------

EARLIER = (
    "You can start by asking your friend what she likes. If you don't know, consider a "
    "gardening tool that is made for her."
)


def test_a_rerun_of_an_earlier_reply_is_dropped_with_its_sentence() -> None:
    g = ReplyGuard(request="Should I wrap it?", earlier=[EARLIER])
    reply = (
        "Wrapping it is a nice touch. You can start by asking your friend what she wants "
        "wrapped. A gift bag works too."
    )
    assert stream(g, tokens(reply)) == "Wrapping it is a nice touch. A gift bag works too."
    assert g.reruns == 1 and not g.stopped


def test_a_reply_that_is_all_rerun_says_nothing() -> None:
    g = ReplyGuard(request="What about a book?", earlier=[EARLIER])
    assert stream(g, tokens(EARLIER)) == ""
    assert g.reruns == 2


def test_words_shared_with_an_earlier_reply_are_spoken() -> None:
    reply = "If you don't know her size, a gardening tool is a safe choice."
    g = ReplyGuard(request="What if I don't know her size?", earlier=[EARLIER])
    assert stream(g, tokens(reply)) == reply
    assert g.reruns == 0


def test_a_run_shared_with_an_earlier_reply_waits_only_while_it_repeats() -> None:
    g = ReplyGuard(request="Any other idea?", earlier=[EARLIER])
    assert g.feed("Sure. ") == "Sure."
    assert g.feed("You ") == ""  # a sentence opening as the earlier reply did: held
    assert g.feed("can ") == ""
    assert g.feed("buy ") == " You can buy"  # the run differs: released at once
    assert g.feed("seeds. ") == " seeds."


def test_a_phrase_reused_mid_sentence_is_spoken_at_once() -> None:
    g = ReplyGuard(request="Any other idea?", earlier=[EARLIER])
    assert g.feed("Seeds are nice, and ") == "Seeds are nice, and"
    assert g.feed("you ") == " you"  # mid-sentence: not held for the earlier reply
    reply = "Seeds are nice, and you can start by asking your friend what she likes."
    assert stream(ReplyGuard(request="Any other idea?", earlier=[EARLIER]), tokens(reply)) == reply


def test_a_caller_who_asks_again_hears_the_earlier_reply_again() -> None:
    g = ReplyGuard(request="Sorry, I didn't catch that. Can you say it again?", earlier=[EARLIER])
    assert stream(g, tokens(EARLIER)) == EARLIER


@pytest.mark.parametrize(
    "request_, asks",
    [
        ("Sorry, can you say that again?", True),
        ("I didn't catch that.", True),
        ("Pardon?", True),
        ("Could you repeat that please?", True),
        ("What was that?", True),
        ("What should I see again in Lisbon?", False),
        ("Can you repeat the order for next week?", False),
        ("I didn't get the job.", False),
    ],
)
def test_asks_to_repeat(request_: str, asks: bool) -> None:
    assert asks_to_repeat(request_) is asks


def test_rerun_words_zero_leaves_earlier_replies_alone() -> None:
    g = ReplyGuard(request="And?", earlier=[EARLIER], rerun_words=0)
    assert stream(g, tokens(EARLIER)) == EARLIER


# ---- the sampling side: EarlierReplyPenalty (the LLM steered off a rerun before the guard) ---


def test_the_penalty_grows_with_the_length_of_the_copy() -> None:
    from voicebot.providers.local.reply_history import EarlierReplyPenalty

    p = EarlierReplyPenalty([[1, 2, 3, 4, 5]], multiplier=0.8, base=2.0, allowed=2)
    assert p.penalties([]) == {}
    assert p.penalties([9, 1]) == {}  # one shared token is free
    assert p.penalties([9, 1, 2]) == {3: 0.8}  # the token that followed there
    assert p.penalties([1, 2, 3, 4]) == {5: 3.2}


def test_the_penalty_lowers_only_the_copied_next_token_after_the_prompt() -> None:
    from voicebot.providers.local.reply_history import EarlierReplyPenalty

    p = EarlierReplyPenalty([[1, 2, 3]], multiplier=1.0, allowed=2)
    prompt = [1, 2]  # the earlier reply inside the prompt is not the reply being generated
    assert p(prompt, [0.0] * 4) == [0.0] * 4
    assert p([*prompt, 1, 2], [0.0] * 4) == [0.0, 0.0, 0.0, -1.0]


def test_a_reply_that_was_all_echo_is_known_as_swallowed() -> None:
    g = ReplyGuard(request="Seven of clubs.")
    assert stream(g, tokens("Seven of clubs.")) == ""
    assert g.swallowed  # the LLM service then says its fallback line, not nothing
    g = ReplyGuard(request="I lost my dog yesterday.")
    stream(g, tokens("I lost my dog yesterday. I'm so sorry."))
    assert not g.swallowed  # something was said after the echo
    g = ReplyGuard(request="What time is it?")
    assert stream(g, tokens("")) == "" and not g.swallowed  # nothing dropped: not the guard's


def test_a_reply_that_was_all_an_earlier_reply_is_swallowed() -> None:
    earlier = "We are open from nine to five on weekdays."
    g = ReplyGuard(request="And on Monday?", earlier=[earlier], rerun_words=6)
    assert stream(g, tokens(earlier)) == ""
    assert g.swallowed


def test_words_released_at_the_end_count_as_said() -> None:
    g = ReplyGuard(
        request="what time does the store open tomorrow",
        earlier=["We open at nine on weekdays and ten on Saturdays."],
    )  # "We open at nine." is held (it opens like the earlier reply) until the end
    said = stream(g, tokens("what time does the store open tomorrow We open at nine."))
    assert said == "We open at nine."
    assert not g.swallowed  # the caller heard an answer: no fallback line after it
