"""A whole voice bot with fake STT/LLM/TTS: runs anywhere, no keys, no network.

The caller is a recording (examples/audio/two_turns.wav); Silero VAD and smart-turn hear
the real speech in it, the fakes stand in for the vendors with realistic delays.

    voicebot run examples/fake_bot.py --input examples/audio/two_turns.wav --output out/reply.wav
"""

from voicebot import Bot
from voicebot.testing import FakeLLM, FakeSTT, FakeTTS

bot = Bot(
    stt=FakeSTT(
        transcripts=[
            "Hi, what time does the library open tomorrow?",
            "Great, thank you very much.",
        ],
        latency_secs=0.15,  # a cloud STT's finalization time
    ),
    llm=FakeLLM(
        replies=["It opens at nine in the morning. Anything else?", "You're welcome, goodbye!"],
        ttft_secs=0.3,  # a cloud LLM's time to first token
    ),
    tts=FakeTTS(ttfb_secs=0.15),  # a cloud TTS's time to first audio
    vad="silero",
    turn="smart-turn",
)
