"""``voicebot chat BOT.py``: a conversation with a bot in the terminal, in text.

Each line read is a message; the reply prints as it streams (``bot: ...``), tool calls on
their own lines (``  [tool] name {arguments}``). ``/quit`` or end of input (Ctrl-D, the end
of a piped file) ends the chat, which then writes its memory and turn records as any
session's end does. Input that is not a terminal works the same (no prompt is printed), so
a conversation can be piped in.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from typing import TYPE_CHECKING, TextIO

from voicebot.text_channel.chat import ChatEnded, TextChat
from voicebot.text_channel.transport import ToolCallStarted

if TYPE_CHECKING:
    from voicebot.bot import Bot

QUIT_COMMANDS = ("/quit", "/exit")


def _read_lines(stream: TextIO, loop: asyncio.AbstractEventLoop) -> asyncio.Queue[str | None]:
    """Lines of ``stream`` as they are typed, read by a daemon thread (a blocked read must
    not keep the program from exiting); None at the end of input."""
    lines: asyncio.Queue[str | None] = asyncio.Queue()

    def read() -> None:
        try:
            for line in stream:
                loop.call_soon_threadsafe(lines.put_nowait, line)
        except (OSError, ValueError):  # closed under us
            pass
        loop.call_soon_threadsafe(lines.put_nowait, None)

    threading.Thread(target=read, name="voicebot-chat-stdin", daemon=True).start()
    return lines


async def chat_in_terminal(
    bot: Bot,
    *,
    user_id: str | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
) -> int:
    """Run one chat between ``stdin`` and ``stdout``; the exit status (0, or 1 when the
    session ended by itself, e.g. its LLM failed)."""
    source = stdin or sys.stdin
    out = stdout or sys.stdout
    interactive = source.isatty()

    def write(text: str) -> None:
        out.write(text)
        out.flush()

    lines = _read_lines(source, asyncio.get_running_loop())
    async with TextChat(bot, user_id=user_id) as chat:
        if chat.greeting:
            write(f"bot: {chat.greeting}\n")
        while True:
            if interactive:
                write("you: ")
            line = await lines.get()
            if line is None:
                break
            text = line.strip()
            if text in QUIT_COMMANDS:
                break
            if not text:
                continue
            try:
                await _print_reply(chat, text, write)
            except ChatEnded as e:
                print(f"voicebot: {e}", file=sys.stderr)
                return 1
    return 0


async def _print_reply(chat: TextChat, text: str, write: TextWriter) -> None:
    reply = chat.send(text)
    started = False
    async for event in reply.events():
        if isinstance(event, ToolCallStarted):
            if started:
                write("\n")
                started = False
            arguments = json.dumps(event.arguments, default=str, ensure_ascii=False)
            write(f"  [tool] {event.name} {arguments}\n")
            continue
        if not started:
            write("bot: ")
            event = event.lstrip()
            started = True
        write(event)
    result = await reply
    if not started:  # nothing streamed (a reply made only of tool calls, or none at all)
        write(f"bot: {result.text}")
    write("\n" if result.complete else " [no complete reply in time]\n")


if TYPE_CHECKING:
    from collections.abc import Callable

    TextWriter = Callable[[str], None]
