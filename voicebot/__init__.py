"""voicebot: real-time voice bots from swappable stages, running on Pipecat.

Every stage is one import away from here::

    Bot                       the spec                      voicebot/bot.py
    Session                   one running conversation      voicebot/session.py
    DeepgramSTT               streaming STT                 voicebot/providers/deepgram.py
    OpenAILLM                 LLM (any OpenAI-compatible)   voicebot/providers/openai.py
    CartesiaTTS               streaming TTS                 voicebot/providers/cartesia.py
    DailyRoom                 WebRTC room transport         voicebot/providers/daily.py
    WavFile                   recorded-caller transport     voicebot/transports/wav.py
    SileroVAD, EnergyVAD      voice activity detection      voicebot/providers/{silero,energy}.py
    SmartTurn, SilenceTurn,   end-of-turn detection         voicebot/providers/turn.py
      PunctuationTurn
    WhisperSTT, LlamaLLM,     the offline stack (default)   voicebot/providers/local/
      PiperTTS
    tool, Tool                tools the LLM calls           voicebot/tools/
    ToolCaller                runs tools, speaks for them   voicebot/tools/caller.py
    TurnRecord                per-turn transcript, timings  voicebot/metrics/turns.py
    LatencySummary            p50/p95 voice-to-voice        voicebot/metrics/stats.py
    Prometheus                /metrics for served bots      voicebot/metrics/prometheus.py
    Memory, SQLiteStore,      user facts across calls,      voicebot/memory/
      RedisStore              summaries within one
    Retrieval,                knowledge (RAG) for each      voicebot/memory/retrieval.py
      LocalRetriever          turn, within a time budget    voicebot/memory/retriever.py
    registry                  names -> providers, plugins   voicebot/registry.py
    voicebot.testing          fakes, recorded-caller runner voicebot/testing/
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from voicebot import registry
from voicebot.bot import Bot
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
from voicebot.memory import (
    LocalRetriever,
    Memory,
    MemoryStore,
    RedisStore,
    Retrieval,
    SQLiteStore,
)
from voicebot.metrics.prometheus import Prometheus
from voicebot.metrics.stats import LatencySummary
from voicebot.metrics.turns import TurnRecord
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
from voicebot.providers.energy import EnergyVAD
from voicebot.providers.openai import OpenAILLM
from voicebot.providers.silero import SileroVAD
from voicebot.providers.turn import PunctuationTurn, SilenceTurn, SmartTurn
from voicebot.session import Session
from voicebot.tools import Tool, ToolCaller, tool
from voicebot.transports.wav import WavFile

if TYPE_CHECKING:
    from voicebot.providers.local import LlamaLLM, PiperTTS, WhisperSTT

__version__ = "0.1.0"

#: Exports imported on first use, so ``import voicebot`` does not pay for them up front.
_LAZY = {
    "LlamaLLM": "voicebot.providers.local",
    "PiperTTS": "voicebot.providers.local",
    "WhisperSTT": "voicebot.providers.local",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'voicebot' has no attribute {name!r}")


__all__ = [
    "Bot",
    "BuildContext",
    "CartesiaTTS",
    "ConfigError",
    "ConfigProblems",
    "DailyRoom",
    "DeepgramSTT",
    "DuplicateToolError",
    "EnergyVAD",
    "LLMProvider",
    "LatencySummary",
    "LlamaLLM",
    "LocalRetriever",
    "Memory",
    "MemoryStore",
    "MissingAPIKeyError",
    "MissingExtraError",
    "OpenAILLM",
    "PiperTTS",
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
    "Tool",
    "ToolCaller",
    "ToolDefinitionError",
    "TransportProvider",
    "TurnProvider",
    "TurnRecord",
    "UnknownProviderError",
    "VADProvider",
    "WavFile",
    "WhisperSTT",
    "registry",
    "tool",
]
