"""Tool turns and llama.cpp's cache: examples/offline_bot.py in a text chat, one process per
run, the LLM stage (``llm_inference``) of each turn printed.

Modes: ``on`` (the code as it is), ``off`` (the conversation is not kept across the argument
writing: ``kept_cache`` disabled), ``noside`` (each tool's argument prompt not kept:
``SideCaches`` disabled). docs/offline.md, "The conversation's cache across a tool call".
The tool's filler is off here: the LLM stage is what is measured.

    python benchmarks/tool_turn_cache.py on --chat deep     # four questions, the 4th a tool call
    python benchmarks/tool_turn_cache.py off --chat deep
    python benchmarks/tool_turn_cache.py on --chat twice    # the tool asked for twice
    python benchmarks/tool_turn_cache.py noside --chat twice
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHATS = {
    "deep": [
        "What's a good way to fall asleep faster?",
        "Why is the sky blue?",
        "How do I say thank you in Spanish?",
        "What time does the library open tomorrow?",
        "Great, thank you.",
    ],
    "twice": [
        "What time does the library open tomorrow?",
        "Why is the sky blue?",
        "Is the library open on Saturday?",
        "Great, thank you.",
    ],
}


async def run(mode: str, chat_name: str) -> None:
    import voicebot.providers.local.llama as llama_module
    import voicebot.providers.local.llama_cache as cache_module
    from voicebot import TextChat
    from voicebot.bot_file import load_bot

    if mode == "off":
        llama_module.kept_cache = lambda llama: contextlib.nullcontext()  # type: ignore[assignment]
    if mode == "noside":
        cache_module.SideCaches.run = lambda self, llama, key: contextlib.nullcontext()  # type: ignore[assignment,method-assign]
    bot = load_bot(str(ROOT / "examples" / "offline_bot.py"))
    # Without the tool's filler: said at the tool's choice, it would be the turn's first
    # words, and the turn's stages would end there, before the LLM's (docs/tools.md).
    bot = bot.replace(tools=[dataclasses.replace(t, filler=None) for t in bot.tools])
    await bot.prepare()
    async with TextChat(bot) as chat:
        for message in CHATS[chat_name]:
            began = time.perf_counter()
            reply = await chat.send(message)
            stages = reply.turn.stages if reply.turn else {}
            print(
                f"{mode:6} {message[:34]!r:38} llm {stages.get('llm_inference', 0):.3f} s "
                f"tools {[c.name for c in reply.tool_calls]} total "
                f"{time.perf_counter() - began:.2f} s | {reply.text[:60]!r}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["on", "off", "noside"])
    parser.add_argument("--chat", choices=sorted(CHATS), default="deep")
    args = parser.parse_args()
    from loguru import logger

    logger.remove()
    asyncio.run(run(args.mode, args.chat))


if __name__ == "__main__":
    main()
