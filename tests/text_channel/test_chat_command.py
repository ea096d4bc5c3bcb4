"""``voicebot chat``: a conversation piped through the command, as a user would run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

VOICEBOT = [sys.executable, "-m", "voicebot.cli"]

#: A bot whose voice stages would need a Deepgram key: chat must not ask for it.
CHAT_BOT = """
from voicebot import Bot, DeepgramSTT, Memory, SQLiteStore, tool
from voicebot.testing import FakeLLM, ToolCall

@tool
def opening_hours(day: str) -> str:
    \"\"\"Opening hours on a day.\"\"\"
    return "ten to four"

bot = Bot(
    stt=DeepgramSTT(),
    llm=FakeLLM(
        replies=[ToolCall("opening_hours", {"day": "saturday"}), "Ten to four.", "Bye!"],
        ttft_secs=0.01,
    ),
    greeting="Hello!",
    tools=[opening_hours],
    memory=Memory(store=SQLiteStore("memory.db")),
    turns_jsonl="turns.jsonl",
)
"""


def chat(*args: str, stdin: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [*VOICEBOT, "chat", *args],
        input=stdin,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_piped_conversation_streams_replies_and_tool_calls(tmp_path: Path) -> None:
    (tmp_path / "bot.py").write_text(CHAT_BOT)
    result = chat(
        "bot.py",
        "--user-id",
        "ada",
        stdin="Open on Saturday?\n\nThanks\n/quit\nnot sent\n",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "bot: Hello!",
        '  [tool] opening_hours {"day": "saturday"}',
        "bot: Ten to four.",
        "bot: Bye!",
    ]
    # The chat's end wrote its turn records (greeting + two messages), under the user id.
    assert len((tmp_path / "turns.jsonl").read_text().splitlines()) == 3


def test_end_of_input_ends_the_chat(tmp_path: Path) -> None:
    (tmp_path / "bot.py").write_text(CHAT_BOT)
    result = chat("bot.py", "--user-id", "ada", stdin="Open on Saturday?", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "bot: Ten to four."


def test_a_bad_bot_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("from voicebot import Bot\nbot = Bot(llm=42)\n")
    result = chat("broken.py", stdin="hi\n", cwd=tmp_path)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()[-1:]
    assert line.startswith("voicebot: ") and "llm" in line
    assert "Traceback" not in result.stderr

    missing = chat("nowhere.py", stdin="", cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr.strip().endswith("voicebot: nowhere.py: no such file")


def test_a_memory_bot_without_a_user_names_the_fix(tmp_path: Path) -> None:
    (tmp_path / "bot.py").write_text(CHAT_BOT)
    result = chat("bot.py", stdin="hi\n", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().endswith(
        "voicebot: bot.py has a Memory: say whose it is with --user-id USER (or give the bot "
        "Memory(user_id=...))"
    )
    assert "Traceback" not in result.stderr
