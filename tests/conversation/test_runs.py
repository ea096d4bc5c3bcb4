"""Whole bots run against a recorded caller, through the real Pipecat pipeline, with fakes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pipecat.frames.frames import Frame, TranscriptionFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from voicebot import Bot, EnergyVAD, SilenceTurn, tool
from voicebot.audio import read_wav
from voicebot.testing import FakeLLM, FakeSTT, FakeTTS, ToolCall, run_conversation

QUICK_TURNS = dict(vad=EnergyVAD(stop_secs=0.2), turn=SilenceTurn(silence_secs=0.3))


def loudness(path: Path, start: float, end: float) -> float:
    """RMS (0-1) of a WAV between two times."""
    pcm = read_wav(path)
    a, b = int(start * pcm.sample_rate), int(end * pcm.sample_rate)
    chunk = pcm.samples[a:b].astype(np.float32) / 32768.0
    return float(np.sqrt(np.mean(chunk * chunk))) if chunk.size else 0.0


# Real time: voice_to_voice_secs comes from Pipecat's UserBotLatencyObserver, whose clock
# (time.time bound at import) a virtual loop cannot reach.
@pytest.mark.real_time
async def test_two_turn_conversation_gives_transcript_and_aligned_reply_audio(caller_wav, tmp_path):  # type: ignore[no-untyped-def]
    caller = caller_wav([(0.5, 1.0), (4.5, 1.0)], total_secs=7.5)
    stt_latency, ttft, ttfb = 0.1, 0.2, 0.1
    bot = Bot(
        stt=FakeSTT(transcripts=["Is the shop open?", "Thanks."], latency_secs=stt_latency),
        llm=FakeLLM(replies=["Yes, until six.", "Bye!"], ttft_secs=ttft),
        tts=FakeTTS(ttfb_secs=ttfb, secs_per_char=0.04),
        **QUICK_TURNS,
    )
    conv = await run_conversation(bot, caller, tmp_path / "bot.wav", env={})

    assert conv.transcript == [
        ("user", "Is the shop open?"),
        ("bot", "Yes, until six."),
        ("user", "Thanks."),
        ("bot", "Bye!"),
    ]
    # The reply file is on the caller's timeline: as long as the call, silent while the
    # caller speaks, and the bot is heard after each question.
    out = read_wav(conv.output_path)
    assert out.duration_secs >= 7.5 - 0.05
    assert loudness(conv.output_path, 0.5, 1.5) < 0.001
    assert loudness(conv.output_path, 4.5, 5.5) < 0.001
    assert len(conv.bot_speech) == 2
    assert 1.5 < conv.bot_speech[0].start < 4.5 and conv.bot_speech[1].start > 5.5
    # Each reply comes after at least the configured stage times, read off the files and
    # measured inside the bot, and the two agree on what happened.
    # VAD stop + silence timeout + LLM + TTS, less the 10 ms the files can be read to.
    floor = 0.2 + 0.3 + ttft + ttfb - 0.01
    for turn in conv.user_turns:
        assert turn.caller_voice_to_voice_secs is not None and turn.voice_to_voice_secs is not None
        assert turn.caller_voice_to_voice_secs >= floor
        assert turn.voice_to_voice_secs >= floor
        assert {"llm_inference", "speech_synthesis", "endpointing_wait"} <= set(turn.stages)
        # The two measures see the same turn. How closely they agree depends on how far the
        # pipeline lags the caller's clock, i.e. on the machine (benchmarks/ measure it);
        # measured from the wrong moment (the start of the 1 s utterance) they would differ
        # by far more.
        assert abs(turn.caller_voice_to_voice_secs - turn.voice_to_voice_secs) < 0.5
    stats = conv.stats()
    assert stats["turns"] == 2 and stats["caller_p50_secs"] is not None


async def test_the_bot_stops_talking_when_the_caller_barges_in(caller_wav, tmp_path):  # type: ignore[no-untyped-def]
    long_reply = "Let me tell you about all of our opening hours in great detail. " * 4
    caller = caller_wav([(0.3, 0.7), (3.0, 1.5)], total_secs=7.0)
    bot = Bot(
        stt=FakeSTT(transcripts=["Tell me everything.", "Stop, thanks."], latency_secs=0.05),
        llm=FakeLLM(replies=[long_reply, "Okay."], ttft_secs=0.05),
        tts=FakeTTS(ttfb_secs=0.05, secs_per_char=0.05),
        **QUICK_TURNS,
    )
    conv = await run_conversation(bot, caller, tmp_path / "bot.wav", env={})

    # The long answer was playing when the caller spoke up (3.0 s), and stopped while they
    # were still speaking (by 4.5 s), rather than some 10 s later at its end.
    answer = conv.bot_speech[0]
    assert answer.start < 3.0 < answer.end < 4.5
    assert loudness(conv.output_path, answer.end + 0.05, 4.5) < 0.001
    first, second = conv.user_turns
    assert first.interrupted and not second.interrupted
    assert second.bot_text == "Okay."
    # What the caller heard of the long answer is far shorter than the answer itself.
    assert conv.bot_speech[0].end - conv.bot_speech[0].start < len(long_reply) * 0.05 / 3


async def test_tool_calls_run_with_validated_arguments_and_results_reach_the_llm(
    caller_wav, tmp_path
):  # type: ignore[no-untyped-def]
    calls: list[tuple[str, int]] = []

    @tool
    def book_table(name: str, people: int) -> dict:
        """Book a table for a party."""
        calls.append((name, people))
        return {"confirmed": True, "table": 7}

    llm = FakeLLM(
        replies=[ToolCall("book_table", {"name": "Ada", "people": "4"}), "Booked table seven."],
        ttft_secs=0.05,
    )
    bot = Bot(
        stt=FakeSTT(transcripts=["A table for four, name Ada."]),
        llm=llm,
        tts=FakeTTS(),
        tools=[book_table],
        **QUICK_TURNS,
    )
    session = bot.session(
        transport=_wav(caller_wav([(0.3, 1.0)], total_secs=5.0), tmp_path), env={}
    )
    await session.run()

    assert calls == [("Ada", 4)]  # "4" from the model was validated into an int
    (turn,) = session.turn_log.user_turns()
    assert [(c.name, c.arguments, c.result) for c in turn.tool_calls] == [
        ("book_table", {"name": "Ada", "people": "4"}, {"confirmed": True, "table": 7})
    ]
    assert turn.bot_text == "Booked table seven."
    second_request = session.llm.requests[1]
    tool_message = next(m for m in second_request if m.get("role") == "tool")
    assert '"table": 7' in tool_message["content"]
    assert second_request[0] == {"role": "system", "content": bot.system_prompt}


async def test_bad_tool_calls_become_errors_the_llm_sees_and_the_call_goes_on(caller_wav, tmp_path):  # type: ignore[no-untyped-def]
    @tool
    def check_stock(item: str, quantity: int) -> str:
        """Check whether an item is in stock."""
        raise RuntimeError("inventory database is down")

    llm = FakeLLM(
        replies=[
            ToolCall("check_stock", {"item": "pears", "quantity": "lots"}),  # fails validation
            "Sorry, how many?",
            ToolCall("check_stock", {"item": "pears", "quantity": 3}),  # tool raises
            "I cannot check right now.",
            ToolCall("no_such_tool", {}),  # unknown tool
            "Anything else?",
        ],
        ttft_secs=0.05,
    )
    bot = Bot(
        stt=FakeSTT(transcripts=["Any pears?", "Three.", "Hmm."]),
        llm=llm,
        tts=FakeTTS(),
        tools=[check_stock],
        **QUICK_TURNS,
    )
    session = bot.session(
        transport=_wav(caller_wav([(0.3, 0.6), (3.0, 0.6), (5.7, 0.6)], total_secs=8.5), tmp_path),
        env={},
    )
    await session.run()

    turns = session.turn_log.user_turns()
    assert [t.bot_text for t in turns] == [
        "Sorry, how many?",
        "I cannot check right now.",
        "Anything else?",
    ]
    invalid, failed, unknown = (t.tool_calls[0].result for t in turns)
    assert (
        "invalid arguments for check_stock" in invalid["error"] and "quantity" in invalid["error"]
    )
    assert failed == {"error": "check_stock failed: inventory database is down"}
    assert "not currently available" in str(unknown)


def _wav(path: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    from voicebot import WavFile

    return WavFile(input=path, output=tmp_path / "bot.wav", linger_secs=1.5)


class Shout(FrameProcessor):
    """Upper-cases final transcripts: proves a custom stage sits between STT and the LLM."""

    instances = 0

    def __init__(self) -> None:
        super().__init__()
        Shout.instances += 1

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TranscriptionFrame):
            frame.text = frame.text.upper()
        await self.push_frame(frame, direction)


async def test_custom_processor_runs_at_its_insertion_point_fresh_per_session(caller_wav, tmp_path):  # type: ignore[no-untyped-def]
    bot = Bot(
        stt=FakeSTT(transcripts=["quiet words"]),
        llm="fake",
        tts="fake",
        processors={"after_stt": [Shout]},
        **QUICK_TURNS,
    )
    before = Shout.instances
    first = bot.session(transport=_wav(caller_wav([(0.3, 0.6)], total_secs=3.0), tmp_path), env={})
    bot.session(transport=_wav(caller_wav([(0.3, 0.6)], total_secs=3.0), tmp_path), env={})
    assert Shout.instances == before + 2
    processors = first.pipeline.processors
    names = [type(p).__name__ for p in processors]
    assert names.index("Shout") == names.index("ScriptedSTTService") + 1

    await first.run()
    (turn,) = first.turn_log.user_turns()
    assert turn.user_text == "QUIET WORDS"
    assert turn.bot_text == "You said: QUIET WORDS"


async def test_greeting_is_spoken_first_and_kept_in_context(caller_wav, tmp_path):  # type: ignore[no-untyped-def]
    bot = Bot(
        stt=FakeSTT(transcripts=["Hello."]),
        llm="fake",
        tts=FakeTTS(ttfb_secs=0.05),
        greeting="Welcome to the shop.",
        **QUICK_TURNS,
    )
    session = bot.session(
        transport=_wav(caller_wav([(2.5, 0.6)], total_secs=5.0), tmp_path), env={}
    )
    await session.run()

    out = tmp_path / "bot.wav"
    assert loudness(out, 0.1, 0.8) > 0.05
    messages = session.context.get_messages()
    assert messages[0] == {"role": "assistant", "content": "Welcome to the shop."}
    # Once: the greeting enters the context as spoken (so a cut-off greeting holds only
    # what was heard), not also written in ahead of being spoken.
    assert [m for m in messages if m.get("content") == "Welcome to the shop."] == messages[:1]
    assert session.turns[0].bot_text == "Welcome to the shop." and not session.turns[0].user_text


async def test_caller_audio_at_another_rate_and_in_stereo_is_converted(tmp_path):  # type: ignore[no-untyped-def]
    import wave

    from voicebot.testing import caller_recording

    mono = caller_recording([(0.3, 0.8)], total_secs=3.5, sample_rate=44100).samples
    path = tmp_path / "stereo44k.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(np.repeat(mono, 2).astype("<i2").tobytes())
    bot = Bot(stt=FakeSTT(transcripts=["Hi."]), llm="fake", tts="fake", **QUICK_TURNS)
    conv = await run_conversation(bot, path, tmp_path / "bot.wav", env={})
    assert conv.transcript == [("user", "Hi."), ("bot", "You said: Hi.")]


@pytest.mark.parametrize(
    ("stage", "value", "built"),
    [
        ("stt", "deepgram", "DeepgramSTTService"),
        ("llm", "openai", "OpenAILLMService"),
        ("llm", "openai/gpt-4o-mini", "OpenAILLMService"),
        ("tts", "cartesia", "CartesiaTTSService"),
        ("stt", "fake", "ScriptedSTTService"),
        ("llm", "fake", "ScriptedLLMService"),
        ("tts", "fake", "ToneTTSService"),
    ],
)
def test_each_stage_swaps_by_one_argument(stage, value, built, caller_wav):  # type: ignore[no-untyped-def]
    keys = {"DEEPGRAM_API_KEY": "k", "OPENAI_API_KEY": "k", "CARTESIA_API_KEY": "k"}
    spec = {"stt": "fake", "llm": "fake", "tts": "fake", stage: value}
    session = Bot(**spec, vad="energy", turn="silence").session(
        transport=_wav(caller_wav([(0.2, 0.5)]), caller_wav([(0.2, 0.5)]).parent), env=keys
    )
    assert type(getattr(session, stage)).__name__ == built
    assert getattr(session, stage) in session.pipeline.processors


@pytest.mark.parametrize(("vad", "turn"), [("silero", "smart-turn"), ("energy", "silence")])
def test_vad_and_turn_detection_swap_by_one_argument(vad, turn, caller_wav):  # type: ignore[no-untyped-def]
    session = Bot(stt="fake", llm="fake", tts="fake", vad=vad, turn=turn).session(
        transport=_wav(caller_wav([(0.2, 0.5)]), caller_wav([(0.2, 0.5)]).parent), env={}
    )
    params = session.user_aggregator._params
    expected_vad = {"silero": "SileroVADAnalyzer", "energy": "EnergyVADAnalyzer"}[vad]
    expected_stop = {
        "smart-turn": "SmartTurnStopStrategy",  # Pipecat's TurnAnalyzerUserTurnStopStrategy
        "silence": "SpeechTimeoutUserTurnStopStrategy",
    }[turn]
    assert type(params.vad_analyzer).__name__ == expected_vad
    assert [type(s).__name__ for s in params.user_turn_strategies.stop] == [expected_stop]


def test_the_transport_swaps_by_one_argument(caller_wav):  # type: ignore[no-untyped-def]
    from voicebot import DailyRoom, WavFile

    base = Bot(stt="fake", llm="fake", tts="fake", vad="energy", turn="silence")
    room = base.with_transport(DailyRoom(room_url="https://example.daily.co/test")).session(env={})
    wav = base.with_transport(WavFile(input=caller_wav([(0.2, 0.5)]))).session(env={})
    assert type(room.transport).__name__ == "DailyTransport"
    assert type(wav.transport).__name__ == "WavFileTransport"
    assert room.transport.input() in room.pipeline.processors
    assert wav.transport.output() in wav.pipeline.processors
