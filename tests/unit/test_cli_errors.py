"""An unexpected error ends the command with one ``voicebot: ...`` line, keys masked, exit 1;
the traceback (masked too) only with -v."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicebot.cli import main

#: Shaped like an OpenAI key and registered nowhere: only its shape can mask it.
PLANTED = "sk-proj-" + "A1b2C3d4E5f6G7h8" * 2

FAILING_BOT = f"""
from voicebot import Bot


class Failing(Bot):
    def run(self):
        raise RuntimeError("upstream said 401 for https://api.example/v1?key=abc123456789 "
                           "with {PLANTED}\\nsecond line")


def make():
    raise ValueError("the factory leaked {PLANTED}")


bot = Failing()
"""


@pytest.fixture
def bot_file(tmp_path: Path) -> Path:
    path = tmp_path / "failing_bot.py"
    path.write_text(FAILING_BOT)
    return path


def test_an_unexpected_error_is_one_masked_line_and_exit_1(
    bot_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(bot_file)]) == 1
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("voicebot:")]
    assert lines == [lines[0]] and lines[0].startswith("voicebot: RuntimeError: upstream")
    assert "(more with -v)" in lines[0]
    assert PLANTED not in err and "abc123456789" not in err and "***" in err
    assert "Traceback" not in err and "second line" not in err


def test_with_verbose_the_traceback_is_shown_masked(
    bot_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "-v", str(bot_file)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "in run" in err and "second line" in err
    assert PLANTED not in err and "abc123456789" not in err


def test_a_factory_that_raises_is_a_masked_bot_file_error(
    bot_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", f"{bot_file}:make"]) == 2  # the bot file's fault: a ConfigError
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "calling make() failed: ValueError" in err
    assert PLANTED not in err and "***" in err
