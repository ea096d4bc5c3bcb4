"""The voicebot command, run as a user would run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from loguru import logger

from tests.conftest import REPO
from voicebot import Bot
from voicebot.bot_file import load_bot
from voicebot.cli import main

VOICEBOT = [sys.executable, "-m", "voicebot.cli"]

#: A bot with scripted stages and a VAD that hears synthetic callers; its delays are far
#: below the gaps in the caller below, so each answer is over before the caller speaks again.
QUICK_BOT = """
from voicebot import Bot, EnergyVAD, SilenceTurn
from voicebot.testing import FakeLLM, FakeSTT, FakeTTS

bot = Bot(
    stt=FakeSTT(transcripts=["Hi, when do you open?", "Thanks."], latency_secs=0.05),
    llm=FakeLLM(replies=["At nine.", "Goodbye!"], ttft_secs=0.05),
    tts=FakeTTS(ttfb_secs=0.05, secs_per_char=0.03),
    vad=EnergyVAD(stop_secs=0.2),
    turn=SilenceTurn(silence_secs=0.3),
)
"""


def run(
    *args: str, cwd: Path, env_extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(env_extra or {})
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [*VOICEBOT, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_file_to_file_run_prints_transcript_and_timings(caller_wav, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bot_file = tmp_path / "quick_bot.py"
    bot_file.write_text(QUICK_BOT)
    caller = caller_wav([(0.3, 0.6), (2.8, 0.5)], total_secs=4.0)
    out, turns = tmp_path / "reply.wav", tmp_path / "turns.jsonl"
    result = run(
        *("run", str(bot_file), "--input", str(caller), "--output", str(out)),
        *("--turns", str(turns), "--linger", "0.5"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "user: Hi, when do you open?" in lines
    assert "bot:  At nine." in lines
    assert "bot:  Goodbye!" in lines
    assert any(line.startswith("p50/p95 caller") for line in lines)
    records = [json.loads(line) for line in turns.read_text().splitlines()]
    user_turns = [r for r in records if r["user_text"]]
    assert len(user_turns) == 2
    assert all(
        r["caller_voice_to_voice_secs"] > 0 and r["voice_to_voice_secs"] > 0 for r in user_turns
    )
    assert out.stat().st_size > 4 * 24000 * 2  # the reply file spans the whole call


def test_the_fake_bot_example_loads() -> None:
    """``examples/fake_bot.py`` (the README's quick run) is a valid bot. Running it is an
    11 s real-time call on recorded speech through Silero and smart-turn: too slow for the
    unit tests, and the run above covers what the command does with a bot."""
    assert isinstance(load_bot(str(REPO / "examples/fake_bot.py")), Bot)


def test_main_in_process_leaves_no_log_sink_behind(capsys: pytest.CaptureFixture[str]) -> None:
    """``main()`` logs through a sink of its own while it runs; called from a program (or a
    test), it must not keep writing that program's later log lines in its format."""
    assert main(["providers"]) == 0
    assert main(["providers"]) == 0
    capsys.readouterr()
    logger.warning("logged after main returned")
    assert "logged after main returned" not in capsys.readouterr().err


def test_run_reports_bad_targets_and_missing_keys_without_a_traceback(tmp_path: Path) -> None:
    missing = run("run", "no_such_bot.py", cwd=tmp_path)
    assert missing.returncode == 2 and "no_such_bot.py" in missing.stderr
    assert "Traceback" not in missing.stderr

    (tmp_path / "notabot.py").write_text("bot = 42\n")
    wrong = run("run", "notabot.py", cwd=tmp_path)
    assert wrong.returncode == 2 and "is a int, not a voicebot.Bot" in wrong.stderr

    cloud = run(
        "run",
        str(REPO / "examples/cloud_bot.py"),
        "--input",
        str(REPO / "examples/audio/two_turns.wav"),
        cwd=tmp_path,
    )
    assert cloud.returncode == 2
    assert "DEEPGRAM_API_KEY" in cloud.stderr and "Traceback" not in cloud.stderr


def test_providers_lists_every_stage_with_extra_and_key_status(tmp_path: Path) -> None:
    result = run("providers", cwd=tmp_path, env_extra={"CARTESIA_API_KEY": "set-here"})
    assert result.returncode == 0, result.stderr
    rows = {tuple(line.split()[:3]) for line in result.stdout.splitlines()[1:]}
    for kind, name, cls in [
        ("stt", "deepgram", "DeepgramSTT"),
        ("llm", "openai", "OpenAILLM"),
        ("tts", "cartesia", "CartesiaTTS"),
        ("transport", "daily", "DailyRoom"),
        ("transport", "wav", "WavFile"),
        ("vad", "silero", "SileroVAD"),
    ]:
        assert (kind, name, cls) in rows
    assert "DEEPGRAM_API_KEY missing" in result.stdout
    assert "CARTESIA_API_KEY set" in result.stdout
