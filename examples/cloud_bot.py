"""A phone-quality cloud bot in a Daily room: Deepgram hears, OpenAI thinks, Cartesia speaks.

Needs DAILY_ROOM_URL, DEEPGRAM_API_KEY, OPENAI_API_KEY and CARTESIA_API_KEY (environment or
.env) and `pip install "voicebot[daily,deepgram,openai,cartesia]"`.

    voicebot run examples/cloud_bot.py                       # join the room and talk
    voicebot run examples/cloud_bot.py --input examples/audio/two_turns.wav --output out/cloud.wav
"""

from voicebot import Bot, CartesiaTTS, DailyRoom, DeepgramSTT, OpenAILLM, SmartTurn, tool


@tool
def opening_hours(day: str) -> str:
    """Opening hours of the library on a given day of the week."""
    return "closed" if day.lower() == "sunday" else "9am to 6pm"


bot = Bot(
    transport=DailyRoom(bot_name="Librarian"),
    stt=DeepgramSTT(model="nova-3-general"),
    llm=OpenAILLM(model="gpt-4o-mini"),
    tts=CartesiaTTS(),
    # The reply starts at the caller's pause while smart-turn decides (docs/latency.md,
    # "Speculative replies"): lower latency for an extra LLM request when they go on.
    turn=SmartTurn(speculate=True),
    system_prompt=(
        "You are the voice of a small public library. Answer in one or two short spoken "
        "sentences. Use opening_hours when asked when the library is open."
    ),
    greeting="Hello, this is the library. How can I help?",
    tools=[opening_hours],
)

if __name__ == "__main__":
    bot.run()
