"""voicebot: real-time voice bots from swappable stages, running on Pipecat.

Every stage is one import away from here::

    Bot                       the spec                      voicebot/bot.py
    Session                   one running conversation      voicebot/session.py
    TextChat, TextReply       the same bot as a text agent  voicebot/text_channel/
      (say, interrupt, update, generate_reply; UserIdle)     voicebot/session_control.py
    DeepgramSTT               streaming STT                 voicebot/providers/deepgram.py
    OpenAILLM                 LLM (any OpenAI-compatible)   voicebot/providers/openai.py
    CartesiaTTS               streaming TTS                 voicebot/providers/cartesia.py
    ElevenLabsTTS             streaming TTS                 voicebot/providers/elevenlabs.py
    OpenAIRealtime            speech-to-speech (realtime=)  voicebot/providers/openai_realtime.py
    DailyRoom                 WebRTC room transport         voicebot/providers/daily.py
    Cascade, any_of,          fast model for routine turns, voicebot/cascade/
      needs_tool, ...         capable one for hard ones
    FallbackLLM, FallbackSTT, providers to fail over through voicebot/failover/
      FallbackTTS,            (``llm=[a, b]`` makes one);
      FailoverPolicy          budgets, what fails over
    WavFile                   recorded-caller transport     voicebot/transports/wav.py
    Twilio, Telnyx, Plivo,    phone calls from carrier      voicebot/transports/phone/
      Exotel, Teler,          media streams (served by
      PhoneWebSocket          `voicebot serve`)
    SileroVAD, EnergyVAD      voice activity detection      voicebot/providers/{silero,energy}.py
    SmartTurn, SilenceTurn,   end-of-turn detection         voicebot/providers/turn.py
      PunctuationTurn
    WhisperSTT, LlamaLLM,     the offline stack (default)   voicebot/providers/local/
      PiperTTS
    (any Pipecat service)     stt=/llm=/tts= a factory,     voicebot/providers/pipecat_service.py
                              class or instance of one
    tool, Tool                tools the LLM calls           voicebot/tools/
    end_call, collect_digits  hang up; await keypad digits  voicebot/tools/builtin.py
    DTMF                      keypad presses on a call      voicebot/processors/dtmf.py
    ToolCaller                runs tools, speaks for them   voicebot/tools/caller.py
    TurnRecord                per-turn transcript, timings  voicebot/metrics/records.py
    LatencySummary            p50/p95 voice-to-voice        voicebot/metrics/stats.py
    Prometheus                /metrics for served bots      voicebot/metrics/prometheus.py
    Memory, SQLiteStore,      user facts across calls,      voicebot/memory/
      RedisStore              summaries within one
    Retrieval,                knowledge (RAG) for each      voicebot/knowledge/retrieval.py
      LocalRetriever          turn, within a time budget    voicebot/knowledge/retriever.py
    registry                  names -> providers, plugins   voicebot/registry.py
    voicebot.testing          fakes, recorded-caller runner voicebot/testing/
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from voicebot.errors import (
    ConfigError,
    ConfigProblems,
    DuplicateToolError,
    MissingAPIKeyError,
    MissingExtraError,
    SampleRateError,
    ToolDefinitionError,
    UnknownProviderError,
)

if TYPE_CHECKING:
    from voicebot import registry
    from voicebot.bot import Bot
    from voicebot.cascade import (
        Cascade,
        any_of,
        fast_declines,
        keywords,
        longer_than,
        needs_tool,
    )
    from voicebot.failover.llm import FallbackLLM
    from voicebot.failover.policy import FailoverPolicy
    from voicebot.failover.stt import FallbackSTT
    from voicebot.failover.tts import FallbackTTS
    from voicebot.knowledge import LocalRetriever, Retrieval
    from voicebot.memory import Memory, MemoryStore, RedisStore, SQLiteStore
    from voicebot.metrics.prometheus import Prometheus
    from voicebot.metrics.records import TurnRecord
    from voicebot.metrics.stats import LatencySummary
    from voicebot.processors.dtmf import DTMF
    from voicebot.providers.base import (
        BuildContext,
        LLMProvider,
        Provider,
        STTProvider,
        TransportProvider,
        TTSProvider,
        TurnProvider,
        VADProvider,
    )
    from voicebot.providers.cartesia import CartesiaTTS
    from voicebot.providers.daily import DailyRoom
    from voicebot.providers.deepgram import DeepgramSTT
    from voicebot.providers.elevenlabs import ElevenLabsTTS
    from voicebot.providers.energy import EnergyVAD
    from voicebot.providers.local import LlamaLLM, PiperTTS, WhisperSTT
    from voicebot.providers.openai import OpenAILLM
    from voicebot.providers.openai_realtime import OpenAIRealtime
    from voicebot.providers.silero import SileroVAD
    from voicebot.providers.turn import PunctuationTurn, SilenceTurn, SmartTurn
    from voicebot.session import Session
    from voicebot.session_control import BargeIn, UserIdle
    from voicebot.text_channel.chat import TextChat, TextReply
    from voicebot.tools import Tool, ToolCaller, tool
    from voicebot.tools.builtin import collect_digits, end_call, end_call_tool
    from voicebot.transports.phone.exotel import Exotel
    from voicebot.transports.phone.pcm import PhoneWebSocket
    from voicebot.transports.phone.plivo import Plivo
    from voicebot.transports.phone.teler import Teler
    from voicebot.transports.phone.telnyx import Telnyx
    from voicebot.transports.phone.twilio import Twilio
    from voicebot.transports.wav import WavFile

__version__ = "0.1.0"

#: Every export but the errors, by the module that defines it, imported on first use: a
#: script that only builds a ``Bot`` spec does not pay for Pipecat, numpy or a vendor SDK
#: (``import voicebot`` was 1.2 s with 178 Pipecat modules when these were eager).
_LAZY: dict[str, str] = {
    "BargeIn": "voicebot.session_control",
    "Bot": "voicebot.bot",
    "Cascade": "voicebot.cascade",
    "BuildContext": "voicebot.providers.base",
    "DTMF": "voicebot.processors.dtmf",
    "CartesiaTTS": "voicebot.providers.cartesia",
    "DailyRoom": "voicebot.providers.daily",
    "DeepgramSTT": "voicebot.providers.deepgram",
    "ElevenLabsTTS": "voicebot.providers.elevenlabs",
    "EnergyVAD": "voicebot.providers.energy",
    "Exotel": "voicebot.transports.phone.exotel",
    "FailoverPolicy": "voicebot.failover.policy",
    "FallbackLLM": "voicebot.failover.llm",
    "FallbackSTT": "voicebot.failover.stt",
    "FallbackTTS": "voicebot.failover.tts",
    "LLMProvider": "voicebot.providers.base",
    "LatencySummary": "voicebot.metrics.stats",
    "LlamaLLM": "voicebot.providers.local.llama",
    "LocalRetriever": "voicebot.knowledge.retriever",
    "Memory": "voicebot.memory.memory",
    "MemoryStore": "voicebot.memory.store",
    "OpenAILLM": "voicebot.providers.openai",
    "OpenAIRealtime": "voicebot.providers.openai_realtime",
    "PhoneWebSocket": "voicebot.transports.phone.pcm",
    "PiperTTS": "voicebot.providers.local.piper",
    "Plivo": "voicebot.transports.phone.plivo",
    "Prometheus": "voicebot.metrics.prometheus",
    "Provider": "voicebot.providers.base",
    "PunctuationTurn": "voicebot.providers.turn",
    "RedisStore": "voicebot.memory.redis_store",
    "Retrieval": "voicebot.knowledge.retrieval",
    "SQLiteStore": "voicebot.memory.sqlite",
    "STTProvider": "voicebot.providers.base",
    "Session": "voicebot.session",
    "SilenceTurn": "voicebot.providers.turn",
    "SileroVAD": "voicebot.providers.silero",
    "SmartTurn": "voicebot.providers.turn",
    "TTSProvider": "voicebot.providers.base",
    "Teler": "voicebot.transports.phone.teler",
    "Telnyx": "voicebot.transports.phone.telnyx",
    "TextChat": "voicebot.text_channel.chat",
    "TextReply": "voicebot.text_channel.chat",
    "Tool": "voicebot.tools.tool",
    "ToolCaller": "voicebot.tools.caller",
    "TransportProvider": "voicebot.providers.base",
    "TurnProvider": "voicebot.providers.base",
    "TurnRecord": "voicebot.metrics.records",
    "Twilio": "voicebot.transports.phone.twilio",
    "UserIdle": "voicebot.session_control",
    "VADProvider": "voicebot.providers.base",
    "WavFile": "voicebot.transports.wav",
    "WhisperSTT": "voicebot.providers.local.whisper",
    "any_of": "voicebot.cascade",
    "collect_digits": "voicebot.tools.builtin",
    "end_call": "voicebot.tools.builtin",
    "end_call_tool": "voicebot.tools.builtin",
    "fast_declines": "voicebot.cascade",
    "keywords": "voicebot.cascade",
    "longer_than": "voicebot.cascade",
    "needs_tool": "voicebot.cascade",
    "registry": "voicebot.registry",
    "tool": "voicebot.tools.tool",
}


def __getattr__(name: str) -> object:
    """PEP 562: import an export's module the first time the export is asked for."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'voicebot' has no attribute {name!r}")
    imported = importlib.import_module(module)
    value = imported if module == f"{__name__}.{name}" else getattr(imported, name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "DTMF",
    "BargeIn",
    "Bot",
    "BuildContext",
    "CartesiaTTS",
    "Cascade",
    "ConfigError",
    "ConfigProblems",
    "DailyRoom",
    "DeepgramSTT",
    "DuplicateToolError",
    "ElevenLabsTTS",
    "EnergyVAD",
    "Exotel",
    "FailoverPolicy",
    "FallbackLLM",
    "FallbackSTT",
    "FallbackTTS",
    "LLMProvider",
    "LatencySummary",
    "LlamaLLM",
    "LocalRetriever",
    "Memory",
    "MemoryStore",
    "MissingAPIKeyError",
    "MissingExtraError",
    "OpenAILLM",
    "OpenAIRealtime",
    "PhoneWebSocket",
    "PiperTTS",
    "Plivo",
    "Prometheus",
    "Provider",
    "PunctuationTurn",
    "RedisStore",
    "Retrieval",
    "SQLiteStore",
    "STTProvider",
    "SampleRateError",
    "Session",
    "SilenceTurn",
    "SileroVAD",
    "SmartTurn",
    "TTSProvider",
    "Teler",
    "Telnyx",
    "TextChat",
    "TextReply",
    "Tool",
    "ToolCaller",
    "ToolDefinitionError",
    "TransportProvider",
    "TurnProvider",
    "TurnRecord",
    "Twilio",
    "UnknownProviderError",
    "UserIdle",
    "VADProvider",
    "WavFile",
    "WhisperSTT",
    "any_of",
    "collect_digits",
    "end_call",
    "end_call_tool",
    "fast_declines",
    "keywords",
    "longer_than",
    "needs_tool",
    "registry",
    "tool",
]
