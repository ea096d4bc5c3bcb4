"""``voicebot run``'s pre-check of ``--turns`` and ``--output`` tells whether the run could
write them without writing anything: before, it created an empty file at the path (or a
temporary one in the nearest folder there is) and removed it at once, a change to the
folder that a run failing right after (a bad bot file) still left behind."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.unit.test_cli_bad_input import fails

#: A bot file that fails when loaded, after the paths were checked.
NO_BOT = str(REPO / "examples/no_such_bot.py")
#: A modification time no change to the folder leaves in place (any change sets it to now).
LONG_AGO = 1_000_000_000


@pytest.fixture
def caller(tmp_path: Path) -> Path:
    path = tmp_path / "in.wav"
    shutil.copyfile(REPO / "examples/audio/two_turns.wav", path)
    return path


@pytest.mark.parametrize("where", ["turns.jsonl", "later/turns.jsonl"])
@pytest.mark.parametrize("flag", ["--turns", "--output"])
def test_a_run_that_fails_early_leaves_the_output_folder_untouched(
    where: str, flag: str, caller: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    target = out / where  # in the folder, or in one the run would create in it
    os.utime(out, (LONG_AGO, LONG_AGO))
    err = fails(["run", NO_BOT, "--input", str(caller), flag, str(target)], capsys)
    assert err.endswith("no_such_bot.py: no such file")  # the paths passed their check
    assert not target.exists() and list(out.iterdir()) == []
    # A file created and removed in the folder would have moved its modification time.
    assert out.stat().st_mtime == LONG_AGO


def test_an_existing_turns_file_is_left_as_it_was(
    caller: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    turns = tmp_path / "turns.jsonl"
    turns.write_text('{"index": 1}\n')
    fails(["run", NO_BOT, "--input", str(caller), "--turns", str(turns)], capsys)
    assert turns.read_text() == '{"index": 1}\n'


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write to any folder")
def test_a_folder_that_is_not_writable_is_still_refused(
    caller: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    err = fails(["run", NO_BOT, "--input", str(caller), "--turns", str(locked / "t.jsonl")], capsys)
    assert err == f"voicebot: --turns {locked / 't.jsonl'}: folder {locked} is not writable"
