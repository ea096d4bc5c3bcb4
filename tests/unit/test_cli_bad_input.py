"""Bad input to ``voicebot run``, ``serve`` and ``report``, as a probe found it: each is one
``voicebot: ...`` line naming the fix and exit 2; never a traceback, a hang or a lost file."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from voicebot.cli import main
from voicebot.errors import ConfigError

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


#: A guard against a hang only: nothing here should take more than a few seconds.
HANG_GUARD_SECS = 120

#: examples/fake_bot.py, telling the test (a file next to it) when a turn has completed.
MARKED_BOT = """
from pathlib import Path

from voicebot import Bot
from voicebot.testing import FakeLLM, FakeSTT, FakeTTS

def on_turn(turn):
    Path(__file__).with_name("turned").touch()

bot = Bot(
    stt=FakeSTT(transcripts=["Hi, what time does the library open tomorrow?", "Great."]),
    llm=FakeLLM(replies=["It opens at nine.", "Goodbye!"]),
    tts=FakeTTS(),
    vad="silero",
    turn="smart-turn",
    on_turn=on_turn,
)
"""


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_sigterm_stops_a_run_as_ctrl_c_does_writing_what_it_has(
    sig: signal.Signals, status: int, caller: Path, tmp_path: Path
) -> None:
    bot_file = tmp_path / "bot.py"
    bot_file.write_text(MARKED_BOT)
    out, turns = tmp_path / "out.wav", tmp_path / "turns.jsonl"
    # --linger 60: the run cannot end on its own for a minute after the caller's file has
    # played, so the signal is what ends it, however slow this machine is.
    argv = [sys.executable, "-m", "voicebot.cli", "run", str(bot_file), "--input", str(caller)]
    argv += ["--output", str(out), "--turns", str(turns), "--linger", "60", "--speed", "2"]
    proc = subprocess.Popen(
        argv,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C as in a terminal, even if this test runs where SIGINT is ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + HANG_GUARD_SECS
        while not (tmp_path / "turned").exists():  # a turn done: there is something to keep
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no turn completed"
            time.sleep(0.05)
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=HANG_GUARD_SECS)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == status, stderr
    assert "Traceback" not in stderr
    assert f"turn records: {turns} (interrupted: the turns so far)" in stdout
    records = [json.loads(line) for line in turns.read_text().splitlines()]
    assert records and records[0]["user_text"].startswith("Hi, what time")
    assert out.stat().st_size > 44  # the bot's audio so far, more than a WAV header


async def test_run_conversation_without_output_removes_its_folder(
    caller_wav: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from voicebot import Bot, EnergyVAD, SilenceTurn
    from voicebot.testing import FakeLLM, FakeSTT, FakeTTS, run_conversation

    def bot() -> Bot:
        return Bot(
            stt=FakeSTT(transcripts=["One."], latency_secs=0.05),
            llm=FakeLLM(replies=["Yes, that one."], ttft_secs=0.05),
            tts=FakeTTS(ttfb_secs=0.05),
            turn=SilenceTurn(silence_secs=0.3),
            vad=EnergyVAD(),
        )

    temp_root = tmp_path / "tmp"
    temp_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp_root))
    wav = caller_wav([(0.2, 0.5)], total_secs=1.5)

    async def converse(**options: Any) -> Any:
        options = {"speed": 5, "linger_secs": 0.3, **options}
        run = run_conversation(bot(), wav, env={}, **options)
        return await asyncio.wait_for(run, HANG_GUARD_SECS)

    conv = await converse()
    assert list(temp_root.iterdir()) == []  # the folder and the WAV in it are gone
    assert not conv.output_kept and not conv.output_path.exists()
    assert conv.transcript == [("user", "One."), ("bot", "Yes, that one.")]
    assert conv.bot_speech and conv.bot_audio is not None  # the audio was read, and kept
    assert len(conv.bot_audio.samples) > 0
    assert "bot audio: not kept (give output_wav to keep it)" in conv.report()

    kept = await converse(keep_output=True)
    assert kept.output_kept and kept.output_path.is_file()
    assert kept.output_path.parent.parent == temp_root
    assert f"bot audio: {kept.output_path}" in kept.report()
    shutil.rmtree(kept.output_path.parent)

    with pytest.raises(ConfigError, match="speed"):  # a run that fails leaves nothing either
        await converse(speed=0)
    assert list(temp_root.iterdir()) == []


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ('"voice_to_voice_secs": "abc"', "'voice_to_voice_secs' is a JSON string (\"abc\")"),
        ('"voice_to_voice_secs": NaN', "'voice_to_voice_secs' is a non-finite number (NaN)"),
        ('"voice_to_voice_secs": 1e300', "'voice_to_voice_secs' is a JSON number (1e+300)"),
        ('"stages": [1, 2]', "'stages' is a JSON array ([1, 2]); expected an object"),
        ('"stages": {"llm_inference": "x"}', "'stages.llm_inference' is a JSON string"),
        ('"spans": "x"', "'spans' is a JSON string (\"x\"); expected an array of spans"),
        ('"spans": [1]', "'spans[0]' is a JSON number (1); expected an object with"),
        ('"spans": [{"key": "tts", "start_secs": 0}]', "'spans[0].secs' is a JSON null"),
        ('"user_text": 5', "'user_text' is a JSON number (5); expected a string"),
        ('"session_id": null', "'session_id' is a JSON null (null); expected a string"),
        ('"interrupted": "no"', "'interrupted' is a JSON string (\"no\"); expected true or"),
        ('"bot_started_at": [0]', "'bot_started_at' is a JSON array ([0]); expected a number"),
        ('"tool_calls": "x"', "'tool_calls' is a JSON string (\"x\"); expected an array of"),
    ],
)
def test_report_names_the_line_and_field_of_a_wrong_type(
    field: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    turns = tmp_path / "turns.jsonl"
    good = '{"index": 0, "user_text": "hi", "voice_to_voice_secs": 0.5}'
    turns.write_text(f'{good}\n{{"index": 1, "user_text": "again", {field}}}\n')
    err = fails(["report", str(turns), "-o", str(tmp_path / "r")], capsys)
    assert err.startswith(f"voicebot: {turns}:2: {message}"), err
    assert not list(tmp_path.glob("r.*"))  # nothing drawn
