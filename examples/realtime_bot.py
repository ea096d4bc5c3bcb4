"""The library bot on OpenAI's Realtime model: one model hears, thinks and speaks.

Needs DAILY_ROOM_URL and OPENAI_API_KEY (environment or .env) and
`pip install "voicebot[daily,openai]"`. The same bot as examples/cloud_bot.py but for one
argument: `realtime=` instead of `stt=`, `llm=`, `tts=` and `turn=` (docs/providers.md,
"Speech-to-speech").

    voicebot run examples/realtime_bot.py                       # join the room and talk
    voicebot run examples/realtime_bot.py --input examples/audio/two_turns.wav --output out/rt.wav
"""

from voicebot import Bot, DailyRoom, OpenAIRealtime, tool


@tool
def opening_hours(day: str) -> str:
    """Opening hours of the library on a given day of the week."""
    return "closed" if day.lower() == "sunday" else "9am to 6pm"


bot = Bot(
    transport=DailyRoom(bot_name="Librarian"),
    realtime=OpenAIRealtime(model="gpt-realtime", voice="marin", language="en"),
    system_prompt=(
        "You are the voice of a small public library. Answer in one or two short spoken "
        "sentences. Use opening_hours when asked when the library is open."
    ),
    greeting="Hello, this is the library. How can I help?",
    tools=[opening_hours],
)

if __name__ == "__main__":
    bot.run()
