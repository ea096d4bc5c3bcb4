"""A whole call's turns carry the conversation state's ids and texts: a greeting (turn 0),
a reply the caller cuts off (turn 1), an answer heard to its end (turn 2)."""

from __future__ import annotations

from pathlib import Path

from voicebot import Bot, EnergyVAD, SilenceTurn, WavFile
from voicebot.processors.heard_text import CUT_MARKER
from voicebot.testing import FakeLLM, FakeSTT, FakeTTS, write_caller_wav

REPLY = (
    "We open at nine every weekday morning. On Saturdays we open at ten and close at four. "
    "Sundays we are closed all day long."
)


async def test_greeting_a_cut_reply_and_an_answer_are_turns_0_1_2(tmp_path: Path) -> None:
    # The greeting ends by 0.4 s; the first question at 1.0 s gets a 4.8 s reply from about
    # 1.8 s, which the caller cuts into at 4.5 s; the second question's answer plays out.
    caller = write_caller_wav(tmp_path / "caller.wav", [(1.0, 0.6), (4.5, 0.6)], total_secs=8.0)
    bot = Bot(
        stt=FakeSTT(transcripts=["When are you open?", "What about Sunday?"], latency_secs=0.05),
        llm=FakeLLM(replies=[REPLY, "Closed on Sunday."], ttft_secs=0.05),
        tts=FakeTTS(ttfb_secs=0.05, secs_per_char=0.04),
        greeting="Welcome.",
        vad=EnergyVAD(stop_secs=0.2),
        turn=SilenceTurn(silence_secs=0.3),
    )
    session = bot.session(
        transport=WavFile(input=caller, output=tmp_path / "bot.wav", linger_secs=1.0), env={}
    )
    await session.run()

    greeting, cut, answered = session.turns
    assert [t.index for t in session.turns] == [0, 1, 2]
    assert session.conversation.turn_id == 2
    assert (greeting.user_text, greeting.bot_text, greeting.said_text) == (
        "",
        "Welcome.",
        "Welcome.",
    )

    # Said: what went to be spoken (all of it or the part streamed before the cut); heard:
    # what the context holds, a prefix of it and the cut mark.
    assert cut.user_text == "When are you open?" and cut.interrupted
    assert cut.said_text and REPLY.startswith(cut.said_text)
    assert cut.bot_text.endswith(f" {CUT_MARKER}")
    heard = cut.bot_text.removesuffix(f" {CUT_MARKER}")
    assert cut.said_text.startswith(heard) and heard != cut.said_text
    assert session.context.get_messages()[2] == {"role": "assistant", "content": cut.bot_text}

    assert answered.user_text == "What about Sunday?" and not answered.interrupted
    assert answered.bot_text == answered.said_text == "Closed on Sunday."
    for record in session.turns:
        turn = session.conversation.turn_by_id(record.index)
        assert turn is not None and (turn.heard, turn.said) == (record.bot_text, record.said_text)
