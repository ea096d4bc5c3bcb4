"""Speculative replies in a whole bot (``TurnProvider(speculate=True)``), on a virtual clock:
the reply is made during the turn model's wait, held until the turn is over, and a reply to
words the caller then added to is never heard."""

from __future__ import annotations

from voicebot import Bot, EnergyVAD, SilenceTurn
from voicebot.testing import FakeLLM, FakeSTT, FakeTTS, run_conversation

VAD_STOP, SILENCE, TTFT, TTFB = 0.2, 1.0, 0.4, 0.1


def bot(transcripts: list[str], *, speculate: bool, replies: list[str] | None = None) -> Bot:
    return Bot(
        stt=FakeSTT(transcripts=transcripts, latency_secs=0.1),
        # Past its script it answers "You said: <last user words>".
        llm=FakeLLM(replies=replies or [], ttft_secs=TTFT),
        tts=FakeTTS(ttfb_secs=TTFB, secs_per_char=0.01),
        vad=EnergyVAD(stop_secs=VAD_STOP),
        turn=SilenceTurn(silence_secs=SILENCE, speculate=speculate),
    )


async def test_the_reply_is_ready_when_the_turn_ends_and_not_heard_before(caller_wav, tmp_path):  # type: ignore[no-untyped-def]
    caller = caller_wav([(0.5, 0.8)], total_secs=5.0)
    ends = {}
    for speculate in (False, True):
        conv = await run_conversation(
            bot(["What time do you open?"], speculate=speculate),
            caller,
            tmp_path / f"bot_{speculate}.wav",
            env={},
        )
        assert conv.transcript == [
            ("user", "What time do you open?"),
            ("bot", "You said: What time do you open?"),
        ]
        assert len(conv.bot_speech) == 1
        expected = {"started": 1, "confirmed": 1, "withdrawn": 0} if speculate else None
        assert conv.user_turns[0].speculation == expected
        ends[speculate] = conv.bot_speech[0].start - 1.3  # after the caller's end of speech
    confirmed = VAD_STOP + SILENCE  # when the silence strategy rules the turn over
    # Without speculation the model starts only then; with it, its reply waited for it.
    assert ends[False] >= confirmed + TTFT + TTFB - 0.02
    assert confirmed <= ends[True] < confirmed + TTFT


async def test_words_after_a_pause_withdraw_the_reply_and_the_whole_turn_is_answered(
    caller_wav, tmp_path
):  # type: ignore[no-untyped-def]
    # A 0.5 s pause mid-sentence: longer than the VAD's stop, shorter than the turn's wait.
    caller = caller_wav([(0.5, 0.8), (1.8, 0.8)], total_secs=6.0)
    conv = await run_conversation(
        bot(
            ["What time do you", "open on Sundays?"],
            speculate=True,
            # One reply per request: the first answers the speculation at the pause.
            replies=["An answer to half a question.", "We open at ten on Sundays."],
        ),
        caller,
        tmp_path / "bot.wav",
        env={},
    )
    # The reply made at the pause was asked for (it used the first reply) and never heard.
    assert conv.transcript == [
        ("user", "What time do you open on Sundays?"),
        ("bot", "We open at ten on Sundays."),
    ]
    assert len(conv.bot_speech) == 1 and conv.bot_speech[0].start > 2.6
    assert conv.user_turns[0].speculation == {"started": 2, "confirmed": 1, "withdrawn": 1}
