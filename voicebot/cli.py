"""The ``voicebot`` command: run a bot (live or file-to-file) and list providers."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from loguru import logger

from voicebot.bot import Bot
from voicebot.env import load_env, lookup
from voicebot.errors import ConfigError

EXAMPLES = """examples:
  voicebot run examples/custom_processor.py --input caller.wav --output reply.wav
  voicebot run mypkg.bots:support_bot          # live, on the bot's own transport
  voicebot serve examples/offline_bot.py       # talk to it from a browser over WebRTC
  voicebot providers
  voicebot report turns.jsonl -o out/latency   # out/latency.html and out/latency.png
"""


def load_bot(target: str) -> Bot:
    """A ``Bot`` from ``path/to/file.py[:attr]`` or ``package.module[:attr]``.

    ``attr`` defaults to ``bot``; it may be a ``Bot`` or a function returning one.
    """
    location, _, attr = target.partition(":")
    if location.endswith(".py") or Path(location).is_file():
        path = Path(location)
        if not path.is_file():
            raise ConfigError(f"{location}: no such file")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise ConfigError(f"{location}: cannot be imported as Python")
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module
        spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(location)
        except ModuleNotFoundError as e:
            raise ConfigError(f"cannot import {location!r}: {e}") from e
    name = attr or "bot"
    if not hasattr(module, name):
        found = [k for k, v in vars(module).items() if isinstance(v, Bot)]
        hint = f"; it has {', '.join(found)}" if found else ""
        raise ConfigError(f"{location} has no {name!r}{hint} (use {location}:NAME)")
    obj: Any = getattr(module, name)
    if callable(obj) and not isinstance(obj, Bot):
        obj = obj()
    if not isinstance(obj, Bot):
        raise ConfigError(f"{location}:{name} is a {type(obj).__name__}, not a voicebot.Bot")
    return obj


async def _run_files(bot: Bot, args: argparse.Namespace) -> int:
    from voicebot.testing.runner import run_conversation

    conv = await run_conversation(
        bot, args.input, args.output, speed=args.speed, linger_secs=args.linger
    )
    print(conv.report())
    if args.turns:
        Path(args.turns).write_text(conv.to_jsonl() + "\n")
        print(f"turn records: {args.turns}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    bot = load_bot(args.target)
    if args.input:
        return asyncio.run(_run_files(bot, args))
    if args.output:
        raise ConfigError("--output needs --input (a file-to-file run)")
    bot.run()
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    bot = load_bot(args.target)
    from voicebot.server.playground import serve

    serve(bot, host=args.host, port=args.port, name=args.target, verbose=args.verbose)
    return 0


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

    for path in write_report(args.turns, args.output):
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
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a bot, live or from a recorded caller")
    run.add_argument("target", help="FILE.py[:attr] or module[:attr]; attr defaults to 'bot'")
    run.add_argument("--input", type=Path, help="WAV played as the caller (file-to-file run)")
    run.add_argument("--output", type=Path, help="WAV the bot's voice is written to")
    run.add_argument("--turns", type=Path, help="write one JSON line per turn here")
    run.add_argument(
        "--speed", type=float, default=1.0, help="play the caller this many times real time"
    )
    run.add_argument(
        "--linger",
        type=float,
        default=3.0,
        help="seconds of bot silence after the input ends before the session ends",
    )
    run.set_defaults(func=cmd_run)

    serve = sub.add_parser("serve", help="talk to a bot from a browser (WebRTC playground)")
    serve.add_argument("target", help="FILE.py[:attr] or module[:attr]; attr defaults to 'bot'")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=7860, help="port to listen on")
    serve.set_defaults(func=cmd_serve)

    providers = sub.add_parser("providers", help="list providers, extras and keys")
    providers.set_defaults(func=cmd_providers)

    report = sub.add_parser("report", help="draw a turns JSONL file as a latency timeline")
    report.add_argument("turns", type=Path, help="JSONL from `run --turns` or Bot(turns_jsonl=)")
    report.add_argument("-o", "--output", type=Path, help="write OUTPUT.html and OUTPUT.png")
    report.set_defaults(func=cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logger.remove()
    logger.add(sys.stderr, level="DEBUG" if args.verbose else "WARNING")
    if not args.verbose:  # voicebot's progress (model loading, sessions), not Pipecat's chatter
        logger.add(
            sys.stderr,
            level="INFO",
            format="{time:HH:mm:ss} {message}",
            filter=lambda r: (r["name"] or "").startswith("voicebot") and r["level"].no < 30,
        )
    try:
        return int(args.func(args))
    except ConfigError as e:
        print(f"voicebot: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
