"""After a barge-in, the reply in the context is what the caller heard, so the next LLM
request does not refer to words that were never played (voicebot.processors.heard_text)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from voicebot import Bot, EnergyVAD, SilenceTurn, WavFile
from voicebot.audio import read_wav
from voicebot.audio.segments import Segment, speech_segments
from voicebot.processors.heard_text import CUT_MARKER, heard_prefix
from voicebot.testing import FakeLLM, FakeSTT, FakeTTS, write_caller_wav

QUICK_TURNS = dict(vad=EnergyVAD(stop_secs=0.2), turn=SilenceTurn(silence_secs=0.3))
SENTENCES = [
    "We open at nine every weekday morning.",
    "On Saturdays we open at ten and close at four.",
    "Sundays we are closed all day long.",
]
REPLY = " ".join(SENTENCES)
SECS_PER_CHAR = 0.04  # the tone TTS: each sentence lasts this per character


async def converse(
    tmp_path: Path, utterances: list[tuple[float, float]], total_secs: float, tts: Any
) -> Any:
    caller = write_caller_wav(tmp_path / "caller.wav", utterances, total_secs=total_secs)
    bot = Bot(
        stt=FakeSTT(transcripts=["When are you open?", "What about Sunday?"], latency_secs=0.05),
        llm=FakeLLM(replies=[REPLY, "Closed on Sunday."], ttft_secs=0.05),
        tts=tts,
        **QUICK_TURNS,
    )
    session = bot.session(
        transport=WavFile(input=caller, output=tmp_path / "bot.wav", linger_secs=1.0), env={}
    )
    await session.run()
    return session


def first_reply(tmp_path: Path) -> Segment:
    """The bot's first stretch of sound in its output file (its first reply)."""
    segments = speech_segments(read_wav(tmp_path / "bot.wav"), window_secs=0.005)
    return segments[0]


def assistant_message(request: list[dict[str, Any]]) -> str:
    (message,) = [m["content"] for m in request if m.get("role") == "assistant"]
    return str(message)


def assert_kept_only_words_played(
    session: Any, timed: list[tuple[str, float, float]], tmp_path: Path
) -> None:
    """After the barge-in on the first reply, the context holds the words played and a cut
    mark: every word heard to its end, none whose audio had not started (``timed``: the
    TTS server's (word, start, end) for that reply, from the start of its audio)."""
    said = assistant_message(session.llm.requests[1])
    assert said.endswith(f" {CUT_MARKER}")
    words = said.removesuffix(f" {CUT_MARKER}").split()
    assert [w for w, _, _ in timed] == REPLY.split()
    assert words == REPLY.split()[: len(words)]
    reply = first_reply(tmp_path)
    played = reply.end - reply.start
    least = sum(1 for _, _, end in timed if end < played - 0.3)
    most = sum(1 for _, start, _ in timed if start < played + 0.05)
    assert 0 < least <= len(words) <= most < len(timed), (words, played)


def heard_by(secs: float) -> str:
    """What of ``REPLY`` a caller has heard ``secs`` into it: the sentences played to their
    end, then the whole words of the one playing (the tone TTS plays them back to back)."""
    done: list[str] = []
    for sentence in SENTENCES:
        length = len(sentence) * SECS_PER_CHAR
        if secs < length:
            return " ".join([*done, heard_prefix(sentence, secs / length)]).strip()
        done.append(sentence)
        secs -= length
    return REPLY


async def test_after_a_barge_in_the_next_request_holds_only_the_heard_prefix(tmp_path):  # type: ignore[no-untyped-def]
    # The reply starts at about 1.6 s; its second sentence at about 3.1 s. The caller
    # barges in at 3.9 s, some 0.8 s (a few words) into that sentence. Where exactly the
    # cut falls depends on how busy the machine is, so what is expected is read off the
    # output file: the reply holds what had played there, whichever sentence that ends in.
    session = await converse(
        tmp_path,
        [(0.3, 0.6), (3.9, 0.6)],
        6.0,
        FakeTTS(ttfb_secs=0.05, secs_per_char=SECS_PER_CHAR),
    )

    _, second = session.llm.requests
    said = assistant_message(second)
    # The words the caller heard, and the mark of a cut reply.
    assert said.endswith(f" {CUT_MARKER}")
    heard = said.removesuffix(f" {CUT_MARKER}")
    assert REPLY.startswith(heard) and heard != REPLY
    # As much as the output file shows was played: at most what had played when the
    # transport was told to stop, at least that less a word or so of reaction time.
    reply = first_reply(tmp_path)
    played = reply.end - reply.start
    assert played < len(REPLY) * SECS_PER_CHAR  # the barge-in cut the reply short
    least, most = heard_by(played - 0.3), heard_by(played + 0.05)
    assert len(least) <= len(heard) <= len(most), (heard, played)
    # Nothing unheard reaches the model, and the turn record says what the context says.
    assert second[-1] == {"role": "user", "content": "What about Sunday?"}
    turn = session.turn_log.user_turns()[0]
    assert turn.interrupted and turn.bot_text == said
    assert session.context.get_messages()[1] == {"role": "assistant", "content": said}


async def test_without_a_barge_in_the_whole_reply_is_kept_unmarked(tmp_path):  # type: ignore[no-untyped-def]
    # A faster voice: the 2.5 s reply ends at about 4.1 s, long before the caller speaks.
    session = await converse(
        tmp_path,
        [(0.3, 0.6), (7.0, 0.5)],
        8.5,
        FakeTTS(ttfb_secs=0.05, secs_per_char=0.02),
    )

    assert first_reply(tmp_path).end < 7.0  # the reply had finished when the caller spoke
    _, second = session.llm.requests
    assert assistant_message(second) == REPLY
    turn = session.turn_log.user_turns()[0]
    assert not turn.interrupted and turn.bot_text == REPLY


async def test_with_word_timestamps_only_the_words_played_are_kept(tmp_path):  # type: ignore[no-untyped-def]
    """Cartesia's word timestamps: Pipecat's output transport releases each word when its
    audio is due and drops the rest on a barge-in; voicebot only adds the cut mark."""
    from tests.contract.servers.cartesia_tts import CartesiaTTSServer
    from voicebot.providers.cartesia import CartesiaTTS

    server = await CartesiaTTSServer(seconds_per_char=SECS_PER_CHAR).start()
    try:
        session = await converse(
            tmp_path,
            [(0.3, 0.6), (3.9, 0.6)],
            6.0,
            CartesiaTTS(url=server.url, api_key=server.api_key),
        )
    finally:
        await server.stop()

    assert_kept_only_words_played(session, server.contexts()[0].words_sent, tmp_path)
