"""``voicebot run``'s options and the files it and ``voicebot report`` read and write,
checked before the work starts (one ``voicebot: ...`` line naming the fix), and written
without a traceback."""

from __future__ import annotations

import argparse
import math
import os
import stat
from pathlib import Path

from voicebot.errors import ConfigError, OutputPathError
from voicebot.transports.wav import MAX_SPEED

#: ``--speed`` below this plays an 11 s caller for minutes: a run that looks hung.
MIN_SPEED = 0.1
#: Most ``--linger`` and ``--max-wait`` seconds: beyond, a run looks hung (inf: it is).
MAX_LINGER_SECS = 60.0
MAX_WAIT_SECS = 3600.0


def path_option(value: str | None, flag: str, *, example: str) -> Path | None:
    """An optional path flag's value as a ``Path`` (``required_path``), None if not given."""
    return None if value is None else required_path(value, flag, example=example)


def required_path(value: str, flag: str, *, example: str) -> Path:
    """A path argument as a ``Path``; an empty one (``--input=``) is refused, not read as
    the current folder."""
    if not value.strip():
        raise ConfigError(f"{flag} is empty: give a file, e.g. {example}")
    return Path(value)


def _stat(path: Path, what: str) -> os.stat_result | None:
    """``path``'s status, None if nothing is there; any other failure is one line."""
    try:
        return path.stat()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise ConfigError(f"{what} {path}: cannot be read ({e.strerror or e})") from e


def check_input_file(path: Path, what: str, *, kind: str) -> None:
    """Refuse an input that is not a regular file before it is opened: a FIFO or a device
    (``/dev/zero``) would hang the read or be read forever."""
    st = _stat(path, what)
    if st is None:
        raise ConfigError(f"{what} {path}: no such file")
    if stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"{what} {path}: is a directory; give {kind}")
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(
            f"{what} {path}: not a regular file (a device, FIFO or socket); give {kind}"
        )


def check_output_path(path: Path | None, flag: str, *, example: str) -> None:
    """Refuse, before a run, a path the run could not write at its end."""
    if path is None:
        return
    if path.is_dir():
        raise OutputPathError(
            f"{flag} {path}: is a directory; give a file name, e.g. {path / example}"
        )
    # The folder is created at write time (out/ in `make demo`), so only what exists counts.
    existing = path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputPathError(f"{flag} {path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputPathError(f"{flag} {path}: folder {existing} is not writable")
    if path.exists():
        if not os.access(path, os.W_OK):
            raise OutputPathError(f"{flag} {path}: the file exists and is not writable")
        return
    # Checked without creating a file there (a file made and removed at once is a change
    # to the folder that watchers of it see). os.access refuses a read-only mount; root
    # passes it everywhere else, so a folder no one may write to on a filesystem with no
    # storage (/proc, /sys) is refused by its looks. Else a failure shows when the run writes.
    if _holds_no_files(existing):
        raise OutputPathError(
            f"{flag} {path}: cannot be written (folder {existing} is on a filesystem with no "
            "storage, such as /proc or /sys)"
        )


def _holds_no_files(folder: Path) -> bool:
    """Whether ``folder`` is read-only by its mode on a filesystem of no blocks (a pseudo
    filesystem: /proc, /sys), where even root cannot create a file."""
    try:
        return os.statvfs(folder).f_blocks == 0 and not folder.stat().st_mode & 0o222
    except (OSError, AttributeError):  # cannot tell (no statvfs on Windows): the write at
        # the end of the run says what fails
        return False


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file: the same resolved path, or a link to it."""
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


def check_distinct(input_path: Path, output: Path | None, turns: Path | None) -> None:
    """Refuse a run that would write over its own input, or write both files to one."""
    if output is not None and same_file(output, input_path):
        raise OutputPathError(f"--output {output} is the input file; it would be overwritten")
    if turns is not None and same_file(turns, input_path):
        raise OutputPathError(f"--turns {turns} is the input file; it would be overwritten")
    if turns is not None and output is not None and same_file(turns, output):
        raise OutputPathError(
            f"--turns {turns} is also the --output file; give the two different names"
        )


def write_text_file(path: Path, text: str) -> None:
    """Write ``path`` (its folders created), or one ``cannot write`` line saying why."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as e:
        raise OutputPathError(f"cannot write {path}: {e.strerror or e}") from e


def check_run_options(args: argparse.Namespace) -> None:
    """What ``voicebot run`` options mean, checked before the bot is even loaded."""
    args.input = path_option(args.input, "--input", example="--input caller.wav")
    args.output = path_option(args.output, "--output", example="--output reply.wav")
    args.turns = path_option(args.turns, "--turns", example="--turns turns.jsonl")
    if args.input is None:
        for flag, value in (("--output", args.output), ("--turns", args.turns)):
            if value:
                raise ConfigError(f"{flag} needs --input (a file-to-file run)")
        return
    check_input_file(args.input, "--input", kind="a WAV file")
    speeds = f"--speed {args.speed:g}: give a speed from {MIN_SPEED:g} to {MAX_SPEED:g}"
    if args.speed > MAX_SPEED:
        raise ConfigError(
            f"{speeds}; beyond {MAX_SPEED:g} the pipeline falls behind the caller and the "
            "timings mean nothing"
        )
    if not (math.isfinite(args.speed) and args.speed >= MIN_SPEED):
        raise ConfigError(f"{speeds}; below {MIN_SPEED:g} a run takes over 10 times its length")
    if not (math.isfinite(args.linger) and 0 <= args.linger <= MAX_LINGER_SECS):
        raise ConfigError(
            f"--linger {args.linger:g}: give a number of seconds from 0 to {MAX_LINGER_SECS:g}"
        )
    if not (math.isfinite(args.max_wait) and 0 < args.max_wait <= MAX_WAIT_SECS):
        raise ConfigError(
            f"--max-wait {args.max_wait:g}: give a number of seconds above 0 and at most "
            f"{MAX_WAIT_SECS:g}"
        )
    check_distinct(args.input, args.output, args.turns)
    check_output_path(args.output, "--output", example="reply.wav")
    check_output_path(args.turns, "--turns", example="turns.jsonl")
