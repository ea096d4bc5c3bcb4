"""Test whole bots with no keys and no network: fake providers, a recorded caller, a runner.

    from voicebot.testing import FakeSTT, FakeLLM, FakeTTS, run_conversation

Shipped in the package (not in voicebot's own tests) so applications test their bots the
same way voicebot tests itself.
"""

from voicebot.testing.budget import LatencyBudget
from voicebot.testing.caller_audio import caller_recording, write_caller_wav
from voicebot.testing.fake_llm import FakeLLM, ScriptedLLMService, ToolCall
from voicebot.testing.fake_retriever import FakeRetriever
from voicebot.testing.fake_stt import FakeSTT, ScriptedSTTService
from voicebot.testing.fake_tts import FakeTTS, ToneTTSService
from voicebot.testing.runner import Conversation, caller_latencies, run_conversation

__all__ = [
    "Conversation",
    "FakeLLM",
    "FakeRetriever",
    "FakeSTT",
    "FakeTTS",
    "LatencyBudget",
    "ScriptedLLMService",
    "ScriptedSTTService",
    "ToneTTSService",
    "ToolCall",
    "caller_latencies",
    "caller_recording",
    "run_conversation",
    "write_caller_wav",
]
