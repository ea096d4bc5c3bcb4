"""Bad input to ``voicebot run``, ``serve`` and ``report``, as a probe found it: each is one
``voicebot: ...`` line naming the fix and exit 2; never a traceback, a hang or a lost file."""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from voicebot.cli import main

FAKE_BOT = str(REPO / "examples/fake_bot.py")
TWO_TURNS = REPO / "examples/audio/two_turns.wav"


@pytest.fixture
def caller(tmp_path: Path) -> Path:
    """A copy of the recorded caller, so a run that overwrote it would show."""
    path = tmp_path / "in.wav"
    shutil.copyfile(TWO_TURNS, path)
    return path


def fails(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run the CLI in-process: exit 2 and one ``voicebot:`` line, no traceback."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("voicebot:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_turns_may_not_be_the_input_or_the_output(
    caller: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = caller.read_bytes()
    run = ["run", FAKE_BOT, "--input", str(caller)]
    err = fails([*run, "--turns", str(caller)], capsys)
    assert f"--turns {caller} is the input file; it would be overwritten" in err
    os.link(caller, tmp_path / "hard.wav")  # another name for the same file
    err = fails([*run, "--turns", str(tmp_path / "hard.wav")], capsys)
    assert "is the input file" in err
    out = tmp_path / "out" / "x.wav"
    err = fails([*run, "--output", str(out), "--turns", str(tmp_path / "out/../out/x.wav")], capsys)
    assert "is also the --output file; give the two different names" in err
    assert caller.read_bytes() == before and not out.exists()


@pytest.mark.parametrize("port", ["99999", "65536", "-1"])
def test_serve_refuses_a_port_outside_0_to_65535(
    port: str, capsys: pytest.CaptureFixture[str]
) -> None:
    err = fails(["serve", FAKE_BOT, f"--port={port}"], capsys)
    assert err == f"voicebot: --port {port}: give a port from 0 to 65535 (0: any free port)"


@pytest.mark.parametrize("code", ["0", "3", "'bye'"])
def test_a_bot_file_that_calls_sys_exit_is_one_line_not_a_silent_exit(
    code: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bot_file = tmp_path / "exits.py"
    bot_file.write_text(f"import sys\n\nsys.exit({code})\n")
    err = fails(["run", str(bot_file)], capsys)
    assert err == f"voicebot: {bot_file}: the bot file called sys.exit({code}) while being loaded"
    factory = tmp_path / "factory.py"
    factory.write_text("import sys\n\n\ndef make():\n    sys.exit(4)\n")
    err = fails(["run", f"{factory}:make"], capsys)
    assert "make() called sys.exit(4)" in err


def test_turns_the_pre_check_cannot_see_fail_before_the_run(
    caller: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if not Path("/proc/self").is_dir():
        pytest.skip("no /proc")
    err = fails(["run", FAKE_BOT, "--input", str(caller), "--turns", "/proc/t.jsonl"], capsys)
    assert err.startswith("voicebot: --turns /proc/t.jsonl: cannot be written (")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
def test_turns_that_cannot_be_written_after_the_run_name_the_path(
    caller: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["run", FAKE_BOT, "--input", str(caller), "--speed", "10", "--linger", "0.2"]
    err = fails([*argv, "--turns", "/dev/full"], capsys)
    assert err.startswith("voicebot: cannot write /dev/full: ")


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--linger", "inf"], "--linger inf: give a number of seconds from 0 to 60"),
        (["--linger", "1e300"], "--linger 1e+300: give a number of seconds from 0 to 60"),
        (["--linger", "nan"], "--linger nan: give a number of seconds from 0 to 60"),
        (["--speed", "1e-9"], "--speed 1e-09: give a speed from 0.1 to 10; below 0.1"),
        (["--speed", "nan"], "--speed nan: give a speed from 0.1 to 10"),
        (["--speed", "inf"], "--speed inf: give a speed from 0.1 to 10; beyond 10"),
        (["--max-wait", "inf"], "--max-wait inf: give a number of seconds above 0 and at most"),
        (["--max-wait", "nan"], "--max-wait nan: give a number of seconds above 0"),
    ],
)
def test_timings_must_be_finite_and_in_range(
    caller: Path, option: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    err = fails(["run", FAKE_BOT, "--input", str(caller), *option], capsys)
    assert err.startswith(f"voicebot: {message}")
    assert "WavFile" not in err and "linger_secs" not in err


def test_a_target_that_is_a_class_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bot_file = tmp_path / "classes.py"
    bot_file.write_text("from voicebot import Bot\n\nbot = Bot\n\n\nclass Other:\n    pass\n")
    err = fails(["run", f"{bot_file}:Bot"], capsys)
    assert err.startswith(f"voicebot: {bot_file}:Bot is the Bot class, not a bot: ")
    err = fails(["run", str(bot_file)], capsys)
    assert err.startswith(f"voicebot: {bot_file}:bot is the Bot class, not a bot: ")
    err = fails(["run", f"{bot_file}:Other"], capsys)
    assert err.startswith(f"voicebot: {bot_file}:Other is a class (Other), not a bot: ")


def test_misleading_path_messages_say_what_is_wrong(
    caller: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = tmp_path / "fifo.wav"
    os.mkfifo(fifo)
    for odd in (str(fifo), "/dev/zero", "/dev/null"):
        err = fails(["run", FAKE_BOT, "--input", odd], capsys)
        assert err.startswith(f"voicebot: --input {odd}: not a regular file")
    assert fails(["run", FAKE_BOT, "--input="], capsys).startswith("voicebot: --input is empty")
    argv = ["run", FAKE_BOT, "--input", str(caller), "--turns="]
    assert fails(argv, capsys).startswith("voicebot: --turns is empty")
    assert fails(["run", ""], capsys).startswith("voicebot: the target is empty: give FILE.py")
    out = tmp_path / "out"
    out.mkdir()
    err = fails(["report", str(out)], capsys)
    assert err == f"voicebot: {out}: is a directory, not a turns JSONL file"
    err = fails(["report", str(fifo)], capsys)  # refused, not read (a FIFO would hang)
    assert err == f"voicebot: {fifo}: not a regular file"


def test_report_refuses_files_that_are_not_turn_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    array = tmp_path / "array.jsonl"
    array.write_text('{"index": 1, "user_text": "hi"}\n[1, 2]\n')
    err = fails(["report", str(array), "-o", str(tmp_path / "a")], capsys)
    assert err.startswith(f"voicebot: {array}:2: ") and "not a turn record (a JSON object)" in err
    err = fails(["report", str(TWO_TURNS), "-o", str(tmp_path / "w")], capsys)
    assert err.startswith(f"voicebot: {TWO_TURNS}: not a text JSONL file")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    err = fails(["report", str(empty), "-o", str(tmp_path / "e")], capsys)
    assert err.startswith(f"voicebot: {empty}: no turn records")
    assert not list(tmp_path.glob("*.html")) and not list(tmp_path.glob("*.png"))


def test_an_async_factory_is_refused_without_a_never_awaited_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bot_file = tmp_path / "async_bot.py"
    bot_file.write_text("from voicebot import Bot\n\n\nasync def bot():\n    return Bot()\n")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        err = fails(["run", str(bot_file)], capsys)
        gc.collect()  # a coroutine never awaited warns when it is collected
    assert err.startswith(f"voicebot: {bot_file}:bot is an async function: ")
    assert "plain function" in err
    assert not [w for w in seen if "never awaited" in str(w.message)]


def test_a_run_without_output_removes_its_temporary_folder(
    caller: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import voicebot.testing.runner as runner

    temp_root = tmp_path / "tmp"
    temp_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp_root))
    outputs: list[Path] = []
    real = runner.run_conversation

    async def spy(bot: Any, input_wav: Any, output_wav: Any = None, **kw: Any) -> Any:
        conv = await real(bot, input_wav, output_wav, **kw)
        outputs.append(Path(output_wav))
        assert Path(output_wav).is_file()  # the run had its audio to time
        return conv

    monkeypatch.setattr(runner, "run_conversation", spy)
    argv = ["run", FAKE_BOT, "--input", str(caller), "--speed", "10", "--linger", "0.2"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "bot audio: not kept (give --output FILE.wav to keep it)" in out
    assert len(outputs) == 1 and temp_root in outputs[0].parents
    assert not outputs[0].parent.exists() and list(temp_root.iterdir()) == []
