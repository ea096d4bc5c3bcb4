"""A caller who phones twice: the second call knows what the first one learned.

Call 1: the caller says who they are and what they like; the model calls the built-in
``remember(fact)`` tool twice. Call 2 (same user id, a fresh bot session, maybe another
process): at session start the facts are put into the LLM context as a developer note, so
the model greets them by name.

STT, LLM and TTS are fakes, and the caller is synthetic audio, so it runs anywhere, in a
few seconds, with no keys::

    .venv/bin/python examples/memory_returning_caller.py              # SQLite: out/memory.db
    .venv/bin/python examples/memory_returning_caller.py redis://127.0.0.1:6379/0

It prints each call's transcript and, for the second call, the context the LLM was given.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

from voicebot import Bot, EnergyVAD, SilenceTurn, WavFile
from voicebot.memory import Memory, MemoryStore, RedisStore, SQLiteStore
from voicebot.session import Session
from voicebot.testing import FakeLLM, FakeSTT, FakeTTS, ToolCall, write_caller_wav

USER_ID = "+15551234"

#: What the caller says, and the scripted model's replies, on each call.
CALLS: list[dict[str, Any]] = [
    {
        "caller": ["Hi, I'm Ada and I only eat vegetarian food."],
        "llm": [
            [
                ToolCall("remember", {"fact": "The caller's name is Ada."}),
                ToolCall("remember", {"fact": "Ada is vegetarian."}),
            ],
            "Nice to meet you, Ada. I'll keep that in mind.",
        ],
    },
    {
        "caller": ["Hello again, what do you suggest for dinner?"],
        "llm": ["Welcome back, Ada. The mushroom risotto is vegetarian."],
    },
]


def make_bot(store: MemoryStore, call: int) -> Bot:
    script = CALLS[call]
    return Bot(
        stt=FakeSTT(transcripts=script["caller"], latency_secs=0.05),
        llm=FakeLLM(replies=script["llm"], ttft_secs=0.05, tokens_per_sec=200),
        tts=FakeTTS(ttfb_secs=0.05, secs_per_char=0.01),
        vad=EnergyVAD(stop_secs=0.2),
        turn=SilenceTurn(silence_secs=0.3),
        memory=Memory(store=store, recent_turns=4, summarize_after=8),
    )


async def phone(store: MemoryStore, call: int, workdir: Path, user_id: str = USER_ID) -> Session:
    """One call of ``user_id``: a synthetic caller speaking once, the bot answering."""
    caller = write_caller_wav(workdir / f"call{call}.wav", [(0.3, 1.0)], total_secs=3.5)
    transport = WavFile(input=caller, output=workdir / f"call{call}_bot.wav", linger_secs=1.0)
    session = make_bot(store, call).session(transport=transport, env={}, user_id=user_id)
    await session.run()
    return session


async def main(target: str | None = None) -> list[Session]:
    store: MemoryStore
    if target and target.startswith("redis://"):
        store = RedisStore(target)
    else:
        store = SQLiteStore(target or "out/memory.db")
    workdir = Path(tempfile.mkdtemp(prefix="voicebot-memory-"))
    sessions = []
    try:
        for call in range(len(CALLS)):
            session = await phone(store, call, workdir)
            sessions.append(session)
            print(f"--- call {call + 1} ({session.id})")
            for line in session.handoff_package()["transcript"]:
                print(f"  {line}")
        print("--- what the LLM was given at the start of call 2")
        for message in sessions[-1].llm.requests[0]:
            print(f"  {message['role']}: {message['content']}")
    finally:
        await store.close()
    return sessions


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else None))
