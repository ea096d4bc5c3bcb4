"""``make demo``'s first call, as a new user sees it: examples/offline_bot.py on the recorded
caller. The first question is heard right (the greeting is Whisper's previous text) and
answered from the library's opening-hours tool, not made up by the 0.5B model; while the
model writes the tool's arguments the caller hears the filler, not silence."""

from __future__ import annotations

import datetime
from pathlib import Path

from tests.conftest import REPO
from voicebot.bot_file import load_bot
from voicebot.testing import run_conversation

SPEECH = REPO / "examples" / "audio" / "offline_demo.wav"


async def test_the_demo_hears_the_question_and_answers_it_from_the_tool(tmp_path: Path) -> None:
    bot = load_bot(str(REPO / "examples" / "offline_bot.py"))
    conv = await run_conversation(bot, SPEECH, tmp_path / "reply.wav", env={}, linger_secs=1.0)
    first = conv.user_turns[0]
    assert first.user_text.lower().startswith("hi, what time does the library open"), (
        conv.transcript
    )
    (call,) = first.tool_calls
    tomorrow = (datetime.date.today() + datetime.timedelta(days=1)).strftime("%A")
    assert call.name == "opening_hours"
    assert tomorrow in str(call.result), call
    # The filler first (said at the tool's choice), then an answer from the model.
    filler, _, answer = first.bot_text.partition("One moment.")
    assert filler == "" and answer.strip(), conv.transcript
    assert not any(t.tool_calls for t in conv.user_turns[1:]), conv.transcript  # "thank you"
