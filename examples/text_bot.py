"""One bot file, voice or text: the same ``Bot`` runs as a voice bot or as a text agent.

In text (no audio stages: no STT, TTS, VAD or turn model is built or loaded)::

    voicebot chat examples/text_bot.py --user-id ada       # a conversation in the terminal
    printf 'When are you open on Saturday?\n/quit\n' | voicebot chat examples/text_bot.py
    voicebot serve --text examples/text_bot.py             # the JSON/WebSocket API
    # POST /text/sessions, POST /text/sessions/{id}/messages, WS /text/sessions/{id}/ws

In voice, the same file (its STT, LLM and TTS are the offline defaults but for the LLM)::

    voicebot serve examples/text_bot.py                    # talk to it in a browser

The LLM is a scripted fake so this runs anywhere with no key: it looks the hours up with
the tool, answers from the result, then echoes what it is told. Put a real model in its
place (``llm="openai/gpt-4o-mini"``) and nothing else changes. Memory is kept in
``out/text_bot_memory.db`` under the ``--user-id`` (or ``user_id`` of the API session).
"""

from __future__ import annotations

from voicebot import Bot, Memory, SQLiteStore, tool
from voicebot.testing import FakeLLM, ToolCall

HOURS = {"saturday": "ten to four", "sunday": "closed"}


@tool
def opening_hours(day: str) -> str:
    """The library's opening hours on a day of the week."""
    return HOURS.get(day.lower(), "nine to six")


bot = Bot(
    llm=FakeLLM(
        replies=[
            ToolCall("opening_hours", {"day": "saturday"}),
            "On Saturday we are open from ten to four.",
        ],
        ttft_secs=0.2,
        fallback="You said: {user}",
    ),
    system_prompt="You are the library's assistant. Answer in one or two short sentences.",
    greeting="Hello, this is the library. How can I help?",
    tools=[opening_hours],
    memory=Memory(store=SQLiteStore("out/text_bot_memory.db"), user_id="guest"),
)
