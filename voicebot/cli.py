"""The ``voicebot`` command: run a bot (live or file-to-file) and list providers."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from loguru import logger

from voicebot import redaction
from voicebot.bot import Bot
from voicebot.bot_file import load_bot
from voicebot.cli_paths import (
    MAX_LINGER_SECS,
    MAX_SPEED,
    MIN_SPEED,
    check_run_options,
    path_option,
    required_path,
    write_text_file,
)
from voicebot.env import load_env, lookup
from voicebot.errors import ConfigError
from voicebot.redaction import redact, redact_value
from voicebot.server.options import add_serve_arguments, check_serve_args

if TYPE_CHECKING:
    from loguru import Record

    from voicebot.metrics.records import TurnRecord

#: ``voicebot run``'s exit status when SIGTERM stopped it (128 + 15, as a shell reports a
#: process SIGTERM ended); Ctrl-C (SIGINT) is 130. Both write what the run has so far.
EXIT_SIGTERM = 143
EXIT_SIGINT = 130

EXAMPLES = """examples:
  voicebot run examples/custom_processor.py --input caller.wav --output reply.wav
  voicebot run mypkg.bots:support_bot          # live, on the bot's own transport
  voicebot serve examples/offline_bot.py       # talk to it from a browser over WebRTC
  voicebot chat examples/text_bot.py           # the same kind of bot, in text
  voicebot serve --text examples/text_bot.py   # a JSON/WebSocket API for chat platforms
  voicebot providers
  voicebot report turns.jsonl -o out/latency   # out/latency.html and out/latency.png
"""


async def _run_files(bot: Bot, args: argparse.Namespace) -> int:
    from voicebot.testing.runner import run_conversation

    # Without --output the bot's audio is only needed to time the run: it goes to a folder
    # of its own, removed when the run ends (however it ends).
    with contextlib.ExitStack() as stack:
        output = args.output
        if output is None:
            output = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="voicebot-")))
            output = output / "bot.wav"
        so_far: list[TurnRecord] = []
        try:
            conv = await run_conversation(
                bot,
                args.input,
                output,
                speed=args.speed,
                linger_secs=args.linger,
                max_wait_secs=args.max_wait,
                turns_so_far=so_far,
            )
        except asyncio.CancelledError:  # Ctrl-C or SIGTERM: the turns so far, then stop
            if args.turns:
                _write_turns(args.turns, so_far, note=" (interrupted: the turns so far)")
            raise
    report = conv.report()
    if args.output is None:
        kept = "not kept (give --output FILE.wav to keep it)"
        report = report.replace(f"bot audio: {output}", f"bot audio: {kept}")
    print(redact(report))
    if args.turns:
        _write_turns(args.turns, conv.turns)
    return 0


def _write_turns(path: Path, turns: list[TurnRecord], *, note: str = "") -> None:
    lines = (json.dumps(redact_value(t.to_dict()), default=str) for t in turns)
    try:
        write_text_file(path, "".join(line + "\n" for line in lines))
    except ConfigError as e:
        if not note:
            raise
        print(f"voicebot: {redact(str(e))}", file=sys.stderr)  # interrupted: stop anyway
        return
    print(f"turn records: {path}{note}", flush=True)


class Terminated(KeyboardInterrupt):
    """A run stopped by SIGTERM, as Ctrl-C stops it (exit ``EXIT_SIGTERM``)."""


@contextlib.contextmanager
def _sigterm_as_sigint() -> Iterator[list[int]]:
    """SIGTERM does what Ctrl-C does (whoever handles SIGINT now: asyncio.run cancels the
    run, Pipecat ends a live session), so the run's output and turns are written; without
    this, SIGTERM ends the process where it stands and writes nothing. Yields a list that
    holds the signal once SIGTERM came; a ``KeyboardInterrupt`` leaving it then becomes
    ``Terminated``."""
    received: list[int] = []

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        if signal.getsignal(signal.SIGINT) in (signal.SIG_IGN, signal.SIG_DFL, None):
            raise KeyboardInterrupt  # nobody handles SIGINT: stop here, as Ctrl-C would
        signal.raise_signal(signal.SIGINT)

    mine = threading.current_thread() is threading.main_thread()  # else not ours to handle
    previous = signal.signal(signal.SIGTERM, on_sigterm) if mine else None
    try:
        yield received
    except KeyboardInterrupt as e:
        if received and not isinstance(e, Terminated):
            raise Terminated from None
        raise
    finally:
        if mine:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def cmd_run(args: argparse.Namespace) -> int:
    check_run_options(args)
    bot = load_bot(args.target)
    with _sigterm_as_sigint() as terminated:
        if args.input:
            status = asyncio.run(_run_files(bot, args))
        else:
            bot.run()
            status = 0
    return EXIT_SIGTERM if terminated else status


def cmd_chat(args: argparse.Namespace) -> int:
    from voicebot.text_channel.terminal import chat_in_terminal

    bot = load_bot(args.target)
    if bot.memory is not None and not (args.user_id or bot.memory.user_id):
        raise ConfigError(
            f"{args.target} has a Memory: say whose it is with --user-id USER (or give the "
            "bot Memory(user_id=...))"
        )
    return asyncio.run(chat_in_terminal(bot, user_id=args.user_id))


def cmd_serve(args: argparse.Namespace) -> int:
    check_serve_args(args)  # host, port, URLs, mode's flags: before the bot is loaded
    bot = load_bot(args.target)  # a bad bot file fails here, before any worker starts
    if args.text:  # one process: a text chat holds no audio and no model of its own
        from voicebot.text_channel.api import serve_text

        token = args.token or os.environ.get("VOICEBOT_SERVE_TOKEN") or None
        redaction.register(token)
        serve_text(
            bot, host=args.host, port=args.port, token=token, name=args.target, verbose=args.verbose
        )
        return 0
    if args.in_process:  # its flags are checked: check_in_process_args
        from voicebot.server.offers import MAX_SESSIONS, OFFERS_PER_CLIENT
        from voicebot.server.playground import serve

        serve(
            bot,
            host=args.host,
            port=args.port,
            name=args.target,
            verbose=args.verbose,
            max_sessions=MAX_SESSIONS if args.max_sessions is None else args.max_sessions,
            ice_servers=list(args.ice_server),
            per_client=OFFERS_PER_CLIENT if args.per_client is None else args.per_client,
        )
        return 0
    from voicebot.server.launch import serve as supervise
    from voicebot.server.options import check_capacity, default_workers, options_from_args
    from voicebot.server.playground import Playground, describe_stages

    if args.workers is None:
        args.workers = default_workers(bot)
    options = options_from_args(args)
    check_capacity(bot, options)
    Playground(bot).check()  # e.g. a missing extra: one line here, not one per worker
    for secret in (options.token, options.redis_url):  # a Redis URL may hold a password
        redaction.register(secret)
    return int(supervise(options, describe=describe_stages(bot), greeting=bot.greeting))


def cmd_providers(args: argparse.Namespace) -> int:
    from voicebot import registry

    env = load_env()
    rows = [("stage", "name", "provider", "installed", "key", "from")]
    for reg in registry.registrations():
        try:
            cls = reg.load()
        except ConfigError as e:
            rows.append((reg.kind, reg.name, reg.target, f"broken: {e}", "", reg.source))
            continue
        missing = cls.missing_modules()
        installed = "yes" if not missing else f'no: pip install "voicebot[{cls.extra}]"'
        if cls.api_key_env is None:
            key = "-"
        else:
            key = f"{cls.api_key_env} {'set' if lookup(env, cls.api_key_env) else 'missing'}"
        rows.append((reg.kind, reg.name, cls.__name__, installed, key, reg.source))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from voicebot.metrics.report import write_report

    turns = required_path(args.turns, "the turns file", example="voicebot report turns.jsonl")
    output = path_option(args.output, "-o", example="-o out/latency")
    for path in write_report(turns, output):
        print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voicebot",
        description="Run voice bots declared with voicebot.Bot.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    # -v also after the subcommand (`voicebot serve -v BOT`); SUPPRESS keeps a -v given
    # before the subcommand from being reset by the subparser's default.
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="debug logging"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", parents=[verbose], help="run a bot, live or from a recorded caller")
    run.add_argument("target", help="FILE.py[:attr] or module[:attr]; attr defaults to 'bot'")
    # Paths are strings until check_run_options: an empty one must not become "."
    run.add_argument("--input", help="WAV played as the caller (file-to-file run)")
    run.add_argument("--output", help="WAV the bot's voice is written to")
    run.add_argument("--turns", help="write one JSON line per turn here")
    run.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help=f"play the caller this many times real time ({MIN_SPEED:g} to {MAX_SPEED:g})",
    )
    run.add_argument(
        "--linger",
        type=float,
        default=3.0,
        help="seconds of bot silence after the input ends (and no answer pending) before "
        f"the session ends (0 to {MAX_LINGER_SECS:g})",
    )
    run.add_argument(
        "--max-wait",
        type=float,
        default=60.0,
        help="most seconds to wait after the input ends for a pending answer (then a warning)",
    )
    run.set_defaults(func=cmd_run)

    serve = sub.add_parser(
        "serve",
        parents=[verbose],
        help="serve a bot: warm worker processes, one call each (browser WebRTC)",
    )
    serve.add_argument("target", help="FILE.py[:attr] or module[:attr]; attr defaults to 'bot'")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=7860, help="port to listen on")
    add_serve_arguments(serve)
    serve.set_defaults(func=cmd_serve)

    chat = sub.add_parser(
        "chat", parents=[verbose], help="chat with a bot in text, in the terminal (no audio)"
    )
    chat.add_argument("target", help="FILE.py[:attr] or module[:attr]; attr defaults to 'bot'")
    chat.add_argument("--user-id", help="whose memory the chat uses (Bot(memory=...))")
    chat.set_defaults(func=cmd_chat)

    providers = sub.add_parser(
        "providers", parents=[verbose], help="list providers, extras and keys"
    )
    providers.set_defaults(func=cmd_providers)

    report = sub.add_parser(
        "report", parents=[verbose], help="draw a turns JSONL file as a latency timeline"
    )
    report.add_argument("turns", help="JSONL from `run --turns` or Bot(turns_jsonl=)")
    report.add_argument("-o", "--output", help="write OUTPUT.html and OUTPUT.png")
    report.set_defaults(func=cmd_report)
    return parser


def log_to_stderr(*, verbose: bool) -> int:
    """Replace loguru's default sink (it would print every line a second time) with ours;
    returns the sink's id. Without ``verbose``: voicebot's progress (model loading,
    sessions) and every warning or error as one line: a vendor's traceback belongs to -v;
    the failure itself ends the run with its own ``voicebot: ...`` line."""
    logger.remove()
    if verbose:
        return logger.add(sys.stderr, level="DEBUG", format=_verbose_line)
    return logger.add(sys.stderr, level="INFO", format=_one_line, filter=_worth_showing)


def _verbose_line(record: Record) -> str:
    """loguru's default format, with the serving worker and call a line belongs to, if any."""
    return (
        "<green>{time:YYYY-MM-DD HH:mm:ss.SSS}</green> | <level>{level: <8}</level> | "
        + _where(record)
        + "<cyan>{name}</cyan>:<cyan>{function}</cyan>:<cyan>{line}</cyan> - "
        "<level>{message}</level>\n{exception}"
    )


def _where(record: Record) -> str:
    """``w1 call=3f2a…: `` for a line logged by a serving worker's call
    (``logger.contextualize(call_id=...)``), else nothing; escaped for a loguru template."""
    extra = record["extra"]
    parts = [str(extra["worker"])] if "worker" in extra else []
    if "call_id" in extra:
        parts.append(f"call={str(extra['call_id'])[-12:]}")
    where = " ".join(parts) + ": " if parts else ""
    return where.replace("{", "{{").replace("}", "}}").replace("<", "\\<")


def _worth_showing(record: Record) -> bool:
    return record["level"].no >= 30 or (record["name"] or "").startswith("voicebot")


def _one_line(record: Record) -> str:
    """A log record as one line, never a traceback (a callable format adds none)."""
    level = "" if record["level"].no < 30 else f"{record['level'].name.lower()}: "
    level = _where(record) + level
    message = str(record["message"]).splitlines()[0] if record["message"] else ""
    # The line is a loguru template: escape its braces and its colour tags ("<spell>").
    message = message.replace("{", "{{").replace("}", "}}").replace("<", "\\<")
    return "{time:HH:mm:ss} " + level + message + "\n"


def _describe(error: BaseException) -> str:
    """``Type: first line of the message``, redacted: what an unexpected failure prints."""
    lines = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
    return redact(text) + ("" if len(lines) < 2 else " (more with -v)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Every key in the environment or .env is masked in what this command prints or logs,
    # from the first line on (a bot file may log or fail before the bot is checked).
    redaction.register_env(load_env())
    redaction.install()
    sink = log_to_stderr(verbose=args.verbose)
    try:
        return int(args.func(args))
    except ConfigError as e:
        print(f"voicebot: {redact(str(e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        return EXIT_SIGTERM if isinstance(e, Terminated) else EXIT_SIGINT
    except Exception as e:  # a bug or a vendor's error: one line, keys masked, exit 1
        print(f"voicebot: {_describe(e)}", file=sys.stderr)
        if args.verbose:
            trace = "".join(traceback.format_exception(e))
            print(redact(trace), file=sys.stderr, end="")
        return 1
    finally:
        # Called in-process (tests, scripts), a sink left behind would outlive its stream and
        # print every later log line of the caller's program in this format.
        with contextlib.suppress(ValueError):  # the bot's own code may have removed it
            logger.remove(sink)


if __name__ == "__main__":
    raise SystemExit(main())
