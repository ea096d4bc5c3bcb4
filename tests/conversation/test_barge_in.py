"""Speech over the bot pauses it at once; a backchannel or a noise lets it speak on from
where it stopped, a worded or long interruption is a barge-in (voicebot.conversation.barge_in).

The caller is the synthetic recorded caller, the bot the tone TTS, so how much reply audio
was played is read off the output file; no assertion depends on how fast the machine is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from voicebot import BargeIn, Bot, EnergyVAD, SilenceTurn, WavFile
from voicebot.audio import read_wav
from voicebot.audio.segments import speech_segments
from voicebot.processors.heard_text import CUT_MARKER
from voicebot.testing import FakeLLM, FakeSTT, FakeTTS, write_caller_wav

QUICK_TURNS = dict(vad=EnergyVAD(stop_secs=0.2), turn=SilenceTurn(silence_secs=0.3))
REPLY = (
    "We open at nine every weekday morning. On Saturdays we open at ten and close at four. "
    "Sundays we are closed all day long."
)
SECS_PER_CHAR = 0.03
REPLY_SECS = len(REPLY) * SECS_PER_CHAR  # the tone TTS's length for the whole reply
# The question ends at 0.9 s; the reply starts at about 1.5 s and lasts ~3.6 s.
QUESTION = (0.3, 0.6)
DEFAULT_POLICY = BargeIn()
#: What the user aggregator's ``on_user_backchannel`` event reported in the last run.
BACKCHANNELS_HEARD: list[str] = []


async def converse(
    tmp_path: Path,
    over_the_bot: tuple[float, float],
    heard_as: str,
    *,
    barge_in: BargeIn | None = DEFAULT_POLICY,
    vad: EnergyVAD = QUICK_TURNS["vad"],  # type: ignore[assignment]
) -> tuple[Any, float]:
    """One question, the long reply, and ``over_the_bot`` (start, length) of speech while it
    plays, transcribed as ``heard_as``; then a last question long after. Returns the session
    and the seconds of reply audio in the output file before that last question."""
    last = (9.0, 0.5)
    caller = write_caller_wav(
        tmp_path / "caller.wav", [QUESTION, over_the_bot, last], total_secs=11.0
    )
    bot = Bot(
        stt=FakeSTT(
            transcripts=["When are you open?", heard_as, "Thanks, bye."], latency_secs=0.05
        ),
        llm=FakeLLM(replies=[REPLY, "Okay.", "Goodbye."], ttft_secs=0.05),
        tts=FakeTTS(ttfb_secs=0.05, secs_per_char=SECS_PER_CHAR),
        barge_in=barge_in,
        vad=vad,
        turn=QUICK_TURNS["turn"],
    )
    session = bot.session(
        transport=WavFile(input=caller, output=tmp_path / "bot.wav", linger_secs=1.0), env={}
    )
    backchannels: list[str] = BACKCHANNELS_HEARD
    backchannels.clear()

    @session.user_aggregator.event_handler("on_user_backchannel")
    async def _backchannel(_aggregator: Any, message: Any) -> None:
        backchannels.append(message.content)

    await session.run()
    segments = speech_segments(read_wav(tmp_path / "bot.wav"), window_secs=0.005, min_gap_secs=0.05)
    played = sum(s.end - s.start for s in segments if s.start < last[0])
    return session, played


def strategy_decisions(session: Any) -> list[str]:
    return list(session.barge_in.decisions) if session.barge_in is not None else []


def assistant_messages(session: Any) -> list[str]:
    return [str(m["content"]) for m in session.context.get_messages() if m["role"] == "assistant"]


async def test_a_backchannel_pauses_the_bot_and_it_speaks_on_to_the_end(tmp_path):  # type: ignore[no-untyped-def]
    session, played = await converse(tmp_path, (2.5, 0.3), "Mm-hmm.")

    # The whole reply was played (with a gap where the caller spoke), and kept unmarked.
    assert abs(played - REPLY_SECS) < 0.1, (played, REPLY_SECS)
    assert strategy_decisions(session) == ["backchannel"]
    assert session.barge_in.heard == ["Mm-hmm."]  # what each ruling was made on
    assert assistant_messages(session)[0] == REPLY
    # "Mm-hmm" never reached the model: two questions, two requests.
    users = [m["content"] for m in session.context.get_messages() if m["role"] == "user"]
    assert users == ["When are you open?", "Thanks, bye."]
    assert len(session.llm.requests) == 2
    # It went out as Pipecat's backchannel event instead.
    assert BACKCHANNELS_HEARD == ["Mm-hmm."]


async def test_a_noise_without_words_pauses_the_bot_and_it_speaks_on(tmp_path):  # type: ignore[no-untyped-def]
    session, played = await converse(tmp_path, (2.5, 0.2), "")

    assert abs(played - REPLY_SECS) < 0.1, (played, REPLY_SECS)
    assert strategy_decisions(session) == ["noise"]
    assert session.barge_in.heard == [""]
    assert assistant_messages(session)[0] == REPLY
    assert BACKCHANNELS_HEARD == []


async def test_a_short_worded_interruption_is_a_barge_in_and_the_held_audio_is_dropped(tmp_path):  # type: ignore[no-untyped-def]
    session, played = await converse(tmp_path, (2.5, 0.3), "Stop.")

    assert strategy_decisions(session) == ["barge_in"]
    assert session.barge_in.heard == ["Stop."]
    # The reply was cut: the context holds what was heard, with the cut mark, and the
    # caller's word is the next user message.
    first = assistant_messages(session)[0]
    assert first.endswith(f" {CUT_MARKER}")
    heard = first.removesuffix(f" {CUT_MARKER}")
    assert REPLY.startswith(heard) and heard != REPLY
    assert played < REPLY_SECS - 1.0
    # What was heard matches what was played: the audio held during the pause (not
    # played) is not counted as heard.
    assert len(heard) * SECS_PER_CHAR <= played + 0.05, (heard, played)
    users = [m["content"] for m in session.context.get_messages() if m["role"] == "user"]
    assert users[:2] == ["When are you open?", "Stop."]


async def test_long_speech_is_a_barge_in_whatever_its_words(tmp_path):  # type: ignore[no-untyped-def]
    # 1.2 s of speech, transcribed as a backchannel: past min_interrupt_secs it interrupts
    # before its words are known.
    session, played = await converse(tmp_path, (2.5, 1.2), "Yeah.")

    assert strategy_decisions(session) == ["barge_in"]
    assert assistant_messages(session)[0].endswith(f" {CUT_MARKER}")
    assert played < REPLY_SECS - 1.0


async def test_a_long_backchannel_under_min_interrupt_secs_is_ruled_on_its_words(tmp_path):  # type: ignore[no-untyped-def]
    # 0.85 s, as the Piper voice says "Okay, okay.": under min_interrupt_secs (1.0 s), so its
    # words, which come after it ends, decide; they are backchannels and the bot speaks on.
    session, played = await converse(tmp_path, (2.5, 0.85), "Okay, okay.")

    assert strategy_decisions(session) == ["backchannel"]
    assert abs(played - REPLY_SECS) < 0.1, (played, REPLY_SECS)
    assert assistant_messages(session)[0] == REPLY


async def test_a_backchannel_whose_transcript_ends_in_a_cut_repeat_lets_the_bot_speak_on(tmp_path):  # type: ignore[no-untyped-def]
    # Whisper's "Got it. Got" for "Got it.": the final words decide, and a cut repeat of a
    # backchannel is one.
    session, played = await converse(tmp_path, (2.5, 0.3), "Got it. Got")

    assert strategy_decisions(session) == ["backchannel"]
    assert abs(played - REPLY_SECS) < 0.1, (played, REPLY_SECS)


async def test_speech_of_the_same_length_with_other_words_is_a_barge_in(tmp_path):  # type: ignore[no-untyped-def]
    session, played = await converse(tmp_path, (2.5, 0.85), "Hang on, that's not right.")

    assert strategy_decisions(session) == ["barge_in"]
    assert session.barge_in.heard == ["Hang on, that's not right."]
    assert assistant_messages(session)[0].endswith(f" {CUT_MARKER}")
    assert played < REPLY_SECS - 1.0
    users = [m["content"] for m in session.context.get_messages() if m["role"] == "user"]
    assert users[:2] == ["When are you open?", "Hang on, that's not right."]


async def test_without_a_barge_in_policy_a_backchannel_interrupts(tmp_path):  # type: ignore[no-untyped-def]
    session, played = await converse(tmp_path, (2.5, 0.3), "Mm-hmm.", barge_in=None)

    assert session.barge_in is None
    assert assistant_messages(session)[0].endswith(f" {CUT_MARKER}")
    assert played < REPLY_SECS - 1.0


def silent_runs(path: Path, start: float, end: float, min_secs: float = 0.06) -> list[float]:
    """Where the bot's audio goes quiet for ``min_secs`` or more between ``start`` and ``end``
    (seconds on the caller's timeline; a quiet run may reach ``end``), as start times."""
    pcm = read_wav(path)
    rate = pcm.sample_rate
    loud = pcm.samples[int(start * rate) : int(end * rate)] != 0
    runs, quiet_from = [], None
    for i, x in enumerate(loud):
        if not x and quiet_from is None:
            quiet_from = i
        elif x and quiet_from is not None:
            if i - quiet_from >= min_secs * rate:
                runs.append(start + quiet_from / rate)
            quiet_from = None
    if quiet_from is not None and loud.size - quiet_from >= min_secs * rate:
        runs.append(start + quiet_from / rate)  # quiet to the window's end
    return runs


# A VAD that calls speech only after 0.4 s: a 0.2 s sound is never speech to it.
SLOW_START = EnergyVAD(start_secs=0.4, stop_secs=0.2)


async def test_a_first_sound_pauses_the_bot_before_the_vad_calls_speech(tmp_path):  # type: ignore[no-untyped-def]
    session, played = await converse(tmp_path, (2.5, 0.2), "", vad=SLOW_START)

    # Paused at the sound, spoke on when it faded: ruled a noise, the whole reply played,
    # with a gap that starts during the sound.
    assert strategy_decisions(session) == ["noise"]
    assert abs(played - REPLY_SECS) < 0.1, (played, REPLY_SECS)
    assert [t for t in silent_runs(tmp_path / "bot.wav", 2.5, 3.5) if t < 2.7]
    assert assistant_messages(session)[0] == REPLY


async def test_pausing_at_the_vads_call_leaves_a_sound_it_never_calls_alone(tmp_path):  # type: ignore[no-untyped-def]
    session, played = await converse(
        tmp_path, (2.5, 0.2), "", vad=SLOW_START, barge_in=BargeIn(pause_at="speech")
    )

    assert strategy_decisions(session) == []  # never paused
    assert abs(played - REPLY_SECS) < 0.1, (played, REPLY_SECS)
    assert not [t for t in silent_runs(tmp_path / "bot.wav", 2.5, 3.5) if t < 2.7]


async def test_after_two_sounds_that_fade_the_rest_of_the_reply_waits_for_the_vad(tmp_path):  # type: ignore[no-untyped-def]
    # Three short knocks during one reply (a noisy line): the first two pause the bot, the
    # third is left to the VAD (which never calls them speech), so the bot cannot stutter.
    last = (9.0, 0.5)
    knocks = [(2.2, 0.15), (2.9, 0.15), (3.6, 0.15)]
    caller = write_caller_wav(tmp_path / "caller.wav", [QUESTION, *knocks, last], total_secs=11.0)
    bot = Bot(
        stt=FakeSTT(transcripts=["When are you open?", "Thanks, bye."], latency_secs=0.05),
        llm=FakeLLM(replies=[REPLY, "Goodbye."], ttft_secs=0.05),
        tts=FakeTTS(ttfb_secs=0.05, secs_per_char=SECS_PER_CHAR),
        vad=SLOW_START,
        turn=QUICK_TURNS["turn"],
    )
    session = bot.session(
        transport=WavFile(input=caller, output=tmp_path / "bot.wav", linger_secs=1.0), env={}
    )
    await session.run()

    assert strategy_decisions(session) == ["noise", "noise"]
    gaps = silent_runs(tmp_path / "bot.wav", 2.1, 4.0)
    assert [any(k <= t < k + 0.2 for t in gaps) for k, _ in knocks] == [True, True, False]


async def test_a_barge_in_after_a_first_sound_pause_is_ruled_as_before(tmp_path):  # type: ignore[no-untyped-def]
    # The pause starts at the first sound; the VAD calls speech 0.4 s later and its words
    # make it a barge-in: one pause, one ruling, the reply cut.
    session, played = await converse(tmp_path, (2.5, 0.7), "Stop.", vad=SLOW_START)

    assert strategy_decisions(session) == ["barge_in"]
    # Silent from the first sound on, not from the VAD's call 0.4 s later.
    assert [t for t in silent_runs(tmp_path / "bot.wav", 2.5, 3.5) if t < 2.7]
    assert session.barge_in.holds == 1
    assert assistant_messages(session)[0].endswith(f" {CUT_MARKER}")
    assert played < REPLY_SECS - 1.0
