"""The Bot spec: stages given by object or name, and every bad spec failing fast and clearly."""

from __future__ import annotations

import importlib.util
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import ClassVar

import pytest

import voicebot
from voicebot import (
    Bot,
    CartesiaTTS,
    ConfigError,
    DeepgramSTT,
    DuplicateToolError,
    MissingAPIKeyError,
    MissingExtraError,
    OpenAILLM,
    SampleRateError,
    STTProvider,
    UnknownProviderError,
    WavFile,
    registry,
    tool,
)
from voicebot.env import load_env
from voicebot.testing import FakeLLM, FakeSTT, FakeTTS

FAKES = dict(stt="fake", llm="fake", tts="fake")


def test_stages_given_as_names_resolve_to_provider_objects() -> None:
    bot = Bot(
        stt="deepgram", llm="openai/gpt-4o-mini", tts="cartesia", vad="energy", turn="silence"
    )
    assert isinstance(bot.stt, DeepgramSTT)
    assert isinstance(bot.llm, OpenAILLM) and bot.llm.model == "gpt-4o-mini"
    assert isinstance(bot.tts, CartesiaTTS)
    assert type(bot.vad).__name__ == "EnergyVAD"
    assert type(bot.turn).__name__ == "SilenceTurn"


def test_defaults_are_silero_vad_and_smart_turn() -> None:
    bot = Bot(**FAKES)
    assert type(bot.vad).__name__ == "SileroVAD"
    assert type(bot.turn).__name__ == "SmartTurn"


def test_unknown_provider_lists_the_known_ones() -> None:
    with pytest.raises(UnknownProviderError) as e:
        Bot(stt="deepgrm", llm="fake", tts="fake")
    message = str(e.value)
    assert "unknown stt provider 'deepgrm'" in message
    assert "deepgram" in message and "fake" in message


def test_a_provider_in_the_wrong_slot_is_refused() -> None:
    with pytest.raises(
        ConfigError, match="CartesiaTTS is a tts provider and cannot be the bot's stt"
    ):
        Bot(stt=CartesiaTTS(), llm="fake", tts="fake")


def test_model_suffix_on_a_provider_without_models_is_refused() -> None:
    with pytest.raises(ConfigError, match="has no model to choose"):
        Bot(stt="fake", llm="fake", tts="fake", vad="energy/big")


def test_options_are_typed_and_unknown_options_rejected() -> None:
    with pytest.raises(ValueError, match="voice_id"):
        CartesiaTTS(voice_id="x")  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        DeepgramSTT(interim_results="sometimes")  # type: ignore[arg-type]


def test_missing_extra_names_the_pip_command(monkeypatch: pytest.MonkeyPatch, caller_wav) -> None:  # type: ignore[no-untyped-def]
    real_find_spec = importlib.util.find_spec

    def without_deepgram(name: str, *args):  # type: ignore[no-untyped-def]
        return None if name.split(".")[0] == "deepgram" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", without_deepgram)
    bot = Bot(
        stt=DeepgramSTT(api_key="k"),
        llm="fake",
        tts="fake",
        transport=WavFile(input=caller_wav([(0.2, 0.5)])),
    )
    with pytest.raises(MissingExtraError, match=r'pip install "voicebot\[deepgram\]"'):
        bot.check(env={})


def test_missing_api_key_names_the_environment_variable(caller_wav) -> None:  # type: ignore[no-untyped-def]
    transport = WavFile(input=caller_wav([(0.2, 0.5)]))
    bot = Bot(stt="deepgram", llm="fake", tts="fake", transport=transport)
    with pytest.raises(MissingAPIKeyError, match="DEEPGRAM_API_KEY") as e:
        bot.check(env={})
    assert "api_key=" in str(e.value) and ".env" in str(e.value)
    bot.check(env={"DEEPGRAM_API_KEY": "dg-test"})  # from the environment
    Bot(stt=DeepgramSTT(api_key="dg-test"), llm="fake", tts="fake", transport=transport).check(
        env={}
    )


def test_keys_are_read_from_dotenv_and_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("CARTESIA_API_KEY=from-dotenv\nDEEPGRAM_API_KEY=from-dotenv\n")
    monkeypatch.setenv("DEEPGRAM_API_KEY", "from-environment")
    monkeypatch.delenv("CARTESIA_API_KEY", raising=False)
    env = load_env(dotenv)
    assert env["CARTESIA_API_KEY"] == "from-dotenv"
    assert env["DEEPGRAM_API_KEY"] == "from-environment"
    import os

    assert os.environ.get("CARTESIA_API_KEY") is None  # .env is not leaked into the process


def test_openai_compatible_server_needs_no_key(caller_wav) -> None:  # type: ignore[no-untyped-def]
    transport = WavFile(input=caller_wav([(0.2, 0.5)]))
    Bot(
        stt="fake", llm=OpenAILLM(base_url="http://127.0.0.1:1/v1"), tts="fake", transport=transport
    ).check(env={})
    with pytest.raises(MissingAPIKeyError, match="OPENAI_API_KEY"):
        Bot(stt="fake", llm="openai", tts="fake", transport=transport).check(env={})


def test_vad_sample_rate_mismatch_fails_before_start(caller_wav) -> None:  # type: ignore[no-untyped-def]
    transport = WavFile(input=caller_wav([(0.2, 0.5)]))
    bot = Bot(**FAKES, vad="silero", sample_rate_in=44100, transport=transport)
    with pytest.raises(SampleRateError, match=r"SileroVAD accepts 8000 or 16000 Hz input.*44100"):
        bot.check(env={})


def test_stt_and_tts_sample_rates_must_match_the_bot(caller_wav) -> None:  # type: ignore[no-untyped-def]
    transport = WavFile(input=caller_wav([(0.2, 0.5)]))
    with pytest.raises(
        SampleRateError, match=r"DeepgramSTT\(sample_rate=8000\).*input sample rate of 16000"
    ):
        Bot(
            stt=DeepgramSTT(api_key="k", sample_rate=8000),
            llm="fake",
            tts="fake",
            transport=transport,
        ).check(env={})
    with pytest.raises(
        SampleRateError, match=r"CartesiaTTS\(sample_rate=16000\).*output sample rate of 24000"
    ):
        Bot(
            stt="fake",
            llm="fake",
            tts=CartesiaTTS(api_key="k", sample_rate=16000),
            transport=transport,
        ).check(env={})
    Bot(
        stt="fake",
        llm="fake",
        tts=CartesiaTTS(api_key="k", sample_rate=16000),
        sample_rate_out=16000,
        transport=transport,
    ).check(env={})


def test_duplicate_tool_names_are_refused() -> None:
    @tool
    def lookup(order_id: str) -> str:
        """Find an order."""
        return order_id

    @tool(name="lookup")
    def lookup_customer(phone: str) -> str:
        """Find a customer."""
        return phone

    with pytest.raises(DuplicateToolError, match="two tools are named 'lookup'"):
        Bot(**FAKES, tools=[lookup, lookup_customer])


def test_unknown_insertion_point_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown insertion point 'after_llm'.*before_tts"):
        Bot(**FAKES, processors={"after_llm": []})
    with pytest.raises(ConfigError, match="neither a FrameProcessor"):
        Bot(**FAKES, processors={"after_stt": [42]})


def test_a_bot_without_transport_says_how_to_give_one() -> None:
    with pytest.raises(ConfigError, match="no transport"):
        Bot(**FAKES).check(env={})


def test_bad_input_wav_fails_before_start(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"this is not audio at all")
    with pytest.raises(ConfigError, match="not a PCM WAV"):
        Bot(**FAKES, transport=WavFile(input=garbage)).check(env={})
    with pytest.raises(ConfigError, match="no such file"):
        Bot(**FAKES, transport=WavFile(input=tmp_path / "missing.wav")).check(env={})


class AcmeSTT(STTProvider):
    name: ClassVar[str] = "acme"
    extra: ClassVar[str | None] = "acme"
    requires: ClassVar[tuple[str, ...]] = ("voicebot_acme_sdk_not_installed",)


def test_third_party_providers_register_through_entry_points(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ep = EntryPoint(name="acme-stt", value=f"{__name__}:AcmeSTT", group=registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(
        registry, "entry_points", lambda group: [ep] if group == registry.ENTRY_POINT_GROUP else []
    )
    bot = Bot(stt="acme", llm="fake", tts="fake")
    assert isinstance(bot.stt, AcmeSTT)
    assert "acme" in registry.known_names("stt")
    with pytest.raises(MissingExtraError, match=r'pip install "voicebot\[acme\]"'):
        bot.stt.check(bot.build_context(env={}))


def test_a_plugin_cannot_shadow_a_builtin(monkeypatch: pytest.MonkeyPatch) -> None:
    class Impostor(STTProvider):
        name: ClassVar[str] = "deepgram"

    globals()["Impostor"] = Impostor
    ep = EntryPoint(name="evil", value=f"{__name__}:Impostor", group=registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda group: [ep])
    assert registry.lookup("stt", "deepgram") is DeepgramSTT


def test_the_public_api_reaches_every_stage() -> None:
    for name in (
        "Bot",
        "DeepgramSTT",
        "OpenAILLM",
        "CartesiaTTS",
        "DailyRoom",
        "WavFile",
        "SileroVAD",
        "SmartTurn",
        "SilenceTurn",
        "tool",
        "Session",
        "TurnRecord",
    ):
        assert hasattr(voicebot, name), name
    assert {FakeSTT.kind, FakeLLM.kind, FakeTTS.kind} == {"stt", "llm", "tts"}


def test_replace_builds_a_new_bot_through_every_check() -> None:
    @tool
    def lookup(order_id: str) -> str:
        """Find an order."""
        return order_id

    def opening_hours(day: str) -> str:
        """Opening hours on a day."""
        return day

    bot = Bot(**FAKES, tools=[lookup], greeting="Hi")
    swapped = bot.replace(stt="deepgram", tools=[lookup, opening_hours])
    assert isinstance(swapped.stt, DeepgramSTT)  # the name was resolved
    assert [t.name for t in swapped.tools] == ["lookup", "opening_hours"]  # function → tool
    assert swapped.greeting == "Hi" and isinstance(bot.stt, FakeSTT)  # the rest kept, no mutation
    with pytest.raises(DuplicateToolError):
        bot.replace(tools=[lookup, lookup])
    with pytest.raises(UnknownProviderError):
        bot.replace(llm="gtp")
    on_wav = bot.with_transport(WavFile(input=Path("x.wav")))
    assert isinstance(on_wav.transport, WavFile) and on_wav.tools == bot.tools


def test_misspelt_options_get_a_did_you_mean() -> None:
    with pytest.raises(ConfigError, match=r"unknown Bot option 'sst'; did you mean 'stt'\?"):
        Bot(sst="fake", llm="fake", tts="fake")
    with pytest.raises(ConfigError, match=r"unknown Bot option 'greting'; did you mean 'greeting'"):
        Bot(**FAKES).replace(greting="Hello")
    with pytest.raises(
        ConfigError, match=r"unknown DeepgramSTT option 'modle'; did you mean 'model'"
    ):
        DeepgramSTT(modle="nova-3")  # type: ignore[call-arg]
    with pytest.raises(
        ConfigError, match=r"unknown CartesiaTTS option 'zzz'; known options: .*voice"
    ):
        CartesiaTTS(zzz=1)  # type: ignore[call-arg]


def test_idle_timeout_and_sample_rates_must_be_usable() -> None:
    with pytest.raises(ConfigError, match=r"idle_timeout_secs=-5.*above 0, or None"):
        Bot(**FAKES, idle_timeout_secs=-5)
    with pytest.raises(ConfigError, match=r"idle_timeout_secs=0"):
        Bot(**FAKES, idle_timeout_secs=0)
    assert Bot(**FAKES, idle_timeout_secs=None).idle_timeout_secs is None
    with pytest.raises(ConfigError, match=r"sample_rate_in=7\).*8000 to 48000 Hz"):
        Bot(**FAKES, sample_rate_in=7)
    with pytest.raises(ConfigError, match=r"sample_rate_out=96000"):
        Bot(**FAKES, sample_rate_out=96000)
    assert Bot(**FAKES, sample_rate_in=8000, sample_rate_out=48000).sample_rate_out == 48000


def test_service_urls_must_be_urls_with_a_host() -> None:
    for bad in ("not a url", "127.0.0.1:11434/v1", "ftp://host/v1", "http://", "http://h:port/"):
        with pytest.raises(ConfigError, match=r"OpenAILLM\(base_url=.*http/https URL with a host"):
            OpenAILLM(base_url=bad)
    assert OpenAILLM(base_url="https://api.example.com/v1").base_url == "https://api.example.com/v1"
    with pytest.raises(ConfigError, match=r"DeepgramSTT\(base_url="):
        DeepgramSTT(base_url="ws://")
    DeepgramSTT(base_url="api.deepgram.com")  # Pipecat takes a bare host (secure by default)
    DeepgramSTT(base_url="ws://127.0.0.1:8765")
    with pytest.raises(ConfigError, match=r"CartesiaTTS\(url='https://x'\).*wss/ws"):
        CartesiaTTS(url="https://x")


def test_check_lists_every_problem_at_once(caller_wav) -> None:  # type: ignore[no-untyped-def]
    bot = Bot(stt="deepgram", llm="openai", tts="cartesia")
    with pytest.raises(ConfigError) as e:
        bot.check(env={})
    lines = str(e.value).splitlines()
    assert lines[0] == "4 problems with the bot:"
    assert "no transport" in lines[1]
    for name, line in zip(("DeepgramSTT", "OpenAILLM", "CartesiaTTS"), lines[2:], strict=True):
        assert line.startswith(f"  - {name} needs ")  # its key (or its extra, if missing)
    assert len(e.value.problems) == 4  # type: ignore[attr-defined]
    # One problem is raised as itself, its class intact.
    wav = WavFile(input=caller_wav([(0.2, 0.5)]))
    with pytest.raises(MissingAPIKeyError):
        Bot(stt="deepgram", llm="fake", tts="fake", transport=wav).check(env={})


def test_the_offline_stack_and_punctuation_turn_are_exported() -> None:
    from voicebot import LlamaLLM, PiperTTS, PunctuationTurn, WhisperSTT

    assert {"LlamaLLM", "PiperTTS", "PunctuationTurn", "WhisperSTT"} <= set(voicebot.__all__)
    assert registry.lookup("llm", "llama") is LlamaLLM
    assert registry.lookup("tts", "piper") is PiperTTS
    assert registry.lookup("stt", "whisper") is WhisperSTT
    assert registry.lookup("turn", "punctuation") is PunctuationTurn
    for name in ("LlamaLLM", "PiperTTS", "PunctuationTurn", "WhisperSTT"):
        assert name in (voicebot.__doc__ or "")
    with pytest.raises(AttributeError):
        voicebot.NoSuchThing  # noqa: B018


async def test_prepare_has_the_llm_load_what_routes_the_bots_tools(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from voicebot import EnergyVAD, SilenceTurn, tool
    from voicebot.testing import FakeLLM, FakeSTT, FakeTTS

    @tool
    def opening_hours(day: str) -> str:
        """Opening hours on a day."""
        return "nine to five"

    seen: list[list[str]] = []
    monkeypatch.setattr(
        FakeLLM, "prepare_tools", lambda self, schemas: seen.append([s.name for s in schemas])
    )
    bot = Bot(
        stt=FakeSTT(),
        llm=FakeLLM(),
        tts=FakeTTS(),
        vad=EnergyVAD(),
        turn=SilenceTurn(),
        tools=[opening_hours],
    )
    await bot.prepare()
    assert seen == [["opening_hours"]]
    await bot.replace(tools=()).prepare()
    assert seen == [["opening_hours"]]  # no tools, nothing to route
