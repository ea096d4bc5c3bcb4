"""The voicebot command, run as a user would run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

VOICEBOT = [sys.executable, "-m", "voicebot.cli"]


def run(
    *args: str, cwd: Path, env_extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(env_extra or {})
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [*VOICEBOT, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_file_to_file_run_prints_transcript_and_timings(tmp_path: Path) -> None:
    out, turns = tmp_path / "reply.wav", tmp_path / "turns.jsonl"
    result = run(
        "run",
        str(REPO / "examples/fake_bot.py"),
        "--input",
        str(REPO / "examples/audio/two_turns.wav"),
        "--output",
        str(out),
        "--turns",
        str(turns),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "user: Hi, what time does the library open tomorrow?" in lines
    assert "bot:  It opens at nine in the morning. Anything else?" in lines
    assert "bot:  You're welcome, goodbye!" in lines
    assert any(line.startswith("p50/p95 caller") for line in lines)
    records = [json.loads(line) for line in turns.read_text().splitlines()]
    user_turns = [r for r in records if r["user_text"]]
    assert len(user_turns) == 2
    assert all(
        r["caller_voice_to_voice_secs"] > 0 and r["voice_to_voice_secs"] > 0 for r in user_turns
    )
    assert out.stat().st_size > 11 * 24000 * 2  # the reply file spans the whole call


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
