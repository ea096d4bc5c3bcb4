"""Any Pipecat service in a bot's STT, LLM or TTS slot (``voicebot.providers.pipecat_service``):
a factory, a class or an instance, with the errors a user needs when it cannot work.

The services here are Pipecat services that voicebot has no typed provider for: the
scripted test services, used as a user would use ElevenLabs' or Groq's."""

from __future__ import annotations

from typing import Any

import pytest

from voicebot import Bot, EnergyVAD, SilenceTurn, WavFile
from voicebot.errors import ConfigError
from voicebot.providers.base import BuildContext
from voicebot.providers.deepgram import DeepgramSTT
from voicebot.providers.pipecat_service import PipecatLLM, PipecatSTT, PipecatTTS
from voicebot.testing import run_conversation, write_caller_wav
from voicebot.testing.fake_llm import ScriptedLLMService
from voicebot.testing.fake_stt import ScriptedSTTService
from voicebot.testing.fake_tts import ToneTTSService

QUICK = dict(vad=EnergyVAD(stop_secs=0.2), turn=SilenceTurn(silence_secs=0.3))


async def test_a_factory_a_class_and_a_context_factory_make_a_working_bot(caller_wav, tmp_path):  # type: ignore[no-untyped-def]
    seen: list[BuildContext] = []

    def make_tts(ctx: BuildContext) -> ToneTTSService:
        seen.append(ctx)
        return ToneTTSService(ttfb_secs=0.05, secs_per_char=0.02)

    llms: list[ScriptedLLMService] = []

    def make_llm() -> ScriptedLLMService:
        llms.append(ScriptedLLMService(["We open at nine."], ttft_secs=0.1))
        return llms[-1]

    class OneLineSTT(ScriptedSTTService):  # a user's own subclass of a Pipecat service
        def __init__(self) -> None:
            super().__init__(["When do you open?"], latency_secs=0.05)

    bot = Bot(stt=OneLineSTT, llm=make_llm, tts=make_tts, system_prompt="Be brief.", **QUICK)
    assert isinstance(bot.stt, PipecatSTT) and isinstance(bot.llm, PipecatLLM)
    assert isinstance(bot.tts, PipecatTTS)
    conv = await run_conversation(
        bot, caller_wav([(0.5, 0.8)], total_secs=4.0), tmp_path / "o.wav", env={}
    )

    assert conv.transcript == [("user", "When do you open?"), ("bot", "We open at nine.")]
    assert len(conv.bot_speech) == 1
    assert seen and seen[0].audio_out_sample_rate == bot.sample_rate_out
    # The bot's system prompt became the service's own (it had none).
    assert llms[0].requests[0][0] == {"role": "system", "content": "Be brief."}


def test_an_instance_serves_one_session_and_the_second_is_refused_with_the_fix(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bot = Bot(
        stt=ScriptedSTTService(["Hi."]),
        llm=lambda: ScriptedLLMService([]),
        tts=lambda: ToneTTSService(),
        **QUICK,
    )
    write_caller_wav(tmp_path / "in.wav", [(0.2, 0.3)], total_secs=1.0)
    wav = WavFile(input=tmp_path / "in.wav", output=tmp_path / "out.wav")
    bot.session(transport=wav, env={})
    with pytest.raises(ConfigError, match=r"serves one session only: pass a factory instead"):
        bot.session(transport=wav, env={})


def test_a_service_or_factory_of_the_wrong_kind_is_a_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=r"ToneTTSService instance is not a Pipecat STTService"):
        Bot(stt=ToneTTSService(), **QUICK)
    with pytest.raises(ConfigError, match=r"ScriptedLLMService is not a Pipecat TTSService"):
        Bot(tts=ScriptedLLMService, **QUICK)
    bot = Bot(stt=lambda: ToneTTSService(), llm="fake", tts="fake", **QUICK)
    write_caller_wav(tmp_path / "in.wav", [(0.2, 0.3)], total_secs=1.0)
    wav = WavFile(input=tmp_path / "in.wav", output=tmp_path / "out.wav")
    with pytest.raises(ConfigError, match=r"returned ToneTTSService, not a Pipecat STTService"):
        bot.session(transport=wav, env={})


def test_a_voicebot_provider_class_is_refused_with_the_fix() -> None:
    with pytest.raises(ConfigError, match=r"is the class DeepgramSTT: pass DeepgramSTT\(\)"):
        Bot(stt=DeepgramSTT)  # type: ignore[arg-type]


def test_factories_can_be_fallback_members() -> None:
    from voicebot.failover.llm import FallbackLLM

    bot = Bot(llm=[lambda: ScriptedLLMService([]), "fake"], **QUICK)
    assert isinstance(bot.llm, FallbackLLM)
    members: Any = bot.llm.providers
    assert isinstance(members[0], PipecatLLM)


def test_a_served_bot_refuses_a_service_instance_at_start() -> None:
    from voicebot.providers.pipecat_service import refuse_instances

    bot = Bot(llm=["fake", ScriptedLLMService([])], **QUICK)
    with pytest.raises(
        ConfigError,
        match=r"voicebot serve makes a session for every call.*"
        r"ScriptedLLMService instance.*lambda ctx: ScriptedLLMService",
    ):
        refuse_instances([bot.stt, bot.llm, bot.tts], "voicebot serve")
    refuse_instances([Bot(llm=lambda: ScriptedLLMService([]), **QUICK).llm], "voicebot serve")
