"""Bad input to ``voicebot run``: one ``voicebot: ...`` line and exit 2, before any pipeline."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import pytest

from voicebot.bot_file import load_bot
from voicebot.cli import build_parser, main
from voicebot.errors import BotFileError, UnknownProviderError

FAKE_BOT = """
from pathlib import Path
from voicebot import Bot
from voicebot.testing import FakeLLM, FakeSTT, FakeTTS

Path(__file__).with_suffix(".imported").touch()  # proves whether the file was run
bot = Bot(stt=FakeSTT(transcripts=["hi"]), llm=FakeLLM(replies=["hello"]), tts=FakeTTS(),
          vad="energy", turn="silence")
"""


@pytest.fixture
def bot_file(tmp_path: Path) -> Path:
    path = tmp_path / "mybot.py"
    path.write_text(FAKE_BOT)
    return path


def fails(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run the CLI in-process; it must exit 2 with one-line errors and no traceback."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("voicebot: ") and "Traceback" not in err
    return err


def test_output_paths_are_checked_before_the_bot_is_loaded(
    bot_file: Path, caller_wav, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    wav = str(caller_wav([(0.2, 0.5)]))
    run = ["run", str(bot_file), "--input", wav]
    err = fails([*run, "--output", str(tmp_path)], capsys)
    assert "--output" in err and "is a directory; give a file name" in err
    (tmp_path / "afile").write_text("")
    err = fails([*run, "--output", str(tmp_path / "afile" / "reply.wav")], capsys)
    assert "afile is a file, not a folder" in err
    err = fails([*run, "--turns", str(tmp_path)], capsys)
    assert "--turns" in err and "is a directory" in err
    err = fails([*run, "--output", wav], capsys)
    assert "is the input file" in err
    assert not bot_file.with_suffix(".imported").exists()


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--speed", "1000"], "--speed 1000: give a speed from 0.1 to 10"),
        (["--speed", "0"], "--speed 0: give a speed from 0.1 to 10"),
        (["--speed", "-2"], "--speed -2: give a speed from 0.1 to 10"),
        (["--linger", "-1"], "--linger -1: give a number of seconds from 0 to 60"),
        (["--max-wait", "0"], "--max-wait 0: give a number of seconds above 0"),
    ],
)
def test_speed_and_linger_out_of_range_are_refused(
    bot_file: Path, caller_wav, option: list[str], message: str, capsys
) -> None:  # type: ignore[no-untyped-def]
    wav = str(caller_wav([(0.2, 0.5)]))
    assert message in fails(["run", str(bot_file), "--input", wav, *option], capsys)


def test_output_and_turns_need_an_input(bot_file: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert "--turns needs --input" in fails(["run", str(bot_file), "--turns", "t.jsonl"], capsys)


def test_verbose_goes_before_or_after_any_subcommand() -> None:
    parser = build_parser()
    assert parser.parse_args(["serve", "-v", "bot.py"]).verbose is True
    assert parser.parse_args(["serve", "bot.py", "--verbose"]).verbose is True
    assert parser.parse_args(["-v", "serve", "bot.py"]).verbose is True
    assert parser.parse_args(["serve", "bot.py"]).verbose is False
    assert parser.parse_args(["run", "bot.py", "-v"]).verbose is True
    assert parser.parse_args(["providers", "-v"]).verbose is True
    assert parser.parse_args(["report", "t.jsonl", "-v"]).verbose is True


@pytest.mark.parametrize("stem", ["json", "logging", "voicebot"])
def test_a_bot_file_named_like_a_module_does_not_shadow_it(tmp_path: Path, stem: str) -> None:
    path = tmp_path / f"{stem}.py"
    path.write_text(
        FAKE_BOT
        + "\nimport dataclasses\n\n@dataclasses.dataclass\nclass Note:\n    text: str\n"
        + "\nNOTE = Note('kept')\n"
    )
    before = sys.modules.get(stem)
    bot = load_bot(str(path))
    assert type(bot).__name__ == "Bot"
    assert sys.modules.get(stem) is before  # the real module, untouched
    module = next(m for m in sys.modules.values() if getattr(m, "__file__", None) == str(path))
    assert pickle.loads(pickle.dumps(module.NOTE)) == module.NOTE  # the file's own classes work


def test_a_broken_bot_file_is_one_line_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    syntax = tmp_path / "syntax.py"
    syntax.write_text("from voicebot import Bot\n\nbot = Bot(\n")
    err = fails(["run", str(syntax)], capsys)
    assert f"{syntax}:3: SyntaxError:" in err

    missing = tmp_path / "missing.py"
    missing.write_text("import os\nimport no_such_package_here\n")
    err = fails(["run", str(missing)], capsys)
    assert f"{missing}:2: ModuleNotFoundError: No module named 'no_such_package_here'" in err

    factory = tmp_path / "factory.py"
    factory.write_text("def make_bot():\n    raise ValueError('no config for tenant 7')\n")
    err = fails(["run", f"{factory}:make_bot"], capsys)
    assert f"{factory}: calling make_bot() failed: ValueError: no config for tenant 7" in err
    with pytest.raises(BotFileError):
        load_bot(f"{factory}:make_bot")

    spec = tmp_path / "badspec.py"
    spec.write_text("from voicebot import Bot\nbot = Bot(stt='deepgrm', llm='fake', tts='fake')\n")
    err = fails(["run", str(spec)], capsys)
    assert (
        err
        == "voicebot: unknown stt provider 'deepgrm'; known stt providers: "
        + err.split("known stt providers: ")[1]
    )
    with pytest.raises(UnknownProviderError):
        load_bot(str(spec))


def test_an_unreadable_input_wav_says_why(
    bot_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = fails(["run", str(bot_file), "--input", str(tmp_path)], capsys)
    assert "is a directory" in err
    (tmp_path / "empty.wav").write_bytes(b"")
    err = fails(["run", str(bot_file), "--input", str(tmp_path / "empty.wav")], capsys)
    assert "empty file" in err


def test_a_log_line_with_markup_or_braces_prints_as_one_plain_line() -> None:
    """Loguru reads a callable format's output as a template: tags and braces are escaped."""
    import io

    from loguru import logger

    from voicebot.cli import _one_line, _worth_showing

    out = io.StringIO()
    sink = logger.add(out, level="INFO", format=_one_line, filter=_worth_showing, colorize=True)
    try:
        logger.warning("card <spell>4111</spell> {x}\nsecond line")
    finally:
        logger.remove(sink)
    text = out.getvalue()
    assert text.count("\n") == 1
    assert "warning: card <spell>4111</spell> {x}" in text
    assert "Traceback" not in text
