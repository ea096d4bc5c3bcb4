"""What the caller hears on a tool turn: ``make demo``'s call (examples/offline_bot.py on
examples/audio/offline_demo.wav), read off the audio files.

For the call's first question ("Hi, what time does the library open tomorrow?", answered
from the ``opening_hours`` tool) it reports, from the end of the caller's question: the
bot's first audio and the start of the answer (the first stretch of bot audio after the
filler's, if the bot said it), and whether the answer says what the tool said (the library
is closed; "closed" in the bot's words). The answer's first audio also depends on its
first sentence's length: the 0.5B's made-up answers ("The library is open from 10 AM to 6
PM on Sunday.") start later. Two contenders, alternating in one process, the models loaded once:

- ``filler``: the example as it ships (the tool's filler, "One moment.", said when the
  offline LLM chooses the tool: docs/tools.md, "What the caller hears");
- ``no-filler``: the same bot with the tool's ``filler=None`` (what the call did before the
  choice was told to the tool caller: the filler's 0.7 s wait never ran out).

    python benchmarks/tool_turn_audio.py --runs 3
    python benchmarks/tool_turn_audio.py OUT.wav ...     # only read files made by `voicebot run`

Writes benchmarks/results/tool_turn_audio.json (every run's times, the configuration).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import dist, save, setup, table  # noqa: E402

CALLER = ROOT / "examples" / "audio" / "offline_demo.wav"
BOT = ROOT / "examples" / "offline_bot.py"


FILLER = "One moment."


def tool_turn(output: Path, said: str | None = None) -> dict[str, Any]:
    """The first question's end, and the bot's audio between it and the caller's next words
    (seconds from the question's end); ``said``: the bot's words for the turn, which tell
    whether its first stretch of audio is the filler."""
    from voicebot.audio import read_wav
    from voicebot.audio.segments import speech_segments

    caller = speech_segments(read_wav(CALLER), min_gap_secs=0.6)
    end, next_start = caller[0].end, caller[1].start
    bot = [
        s
        for s in speech_segments(read_wav(output), window_secs=0.005, min_gap_secs=0.25)
        if end < s.start < next_start
    ]
    answer = 1 if said is not None and said.startswith(FILLER) else 0
    return {
        "question_end_secs": end,
        "bot_segments": [(round(s.start - end, 3), round(s.end - end, 3)) for s in bot],
        "first_audio_secs": round(bot[0].start - end, 3) if bot else None,
        "answer_secs": round(bot[answer].start - end, 3) if len(bot) > answer else None,
    }


async def run(runs: int) -> dict[str, Any]:
    from voicebot.bot_file import load_bot
    from voicebot.testing import run_conversation

    shipped = load_bot(str(BOT))
    bots = {
        "filler": shipped,
        "no-filler": shipped.replace(
            tools=[dataclasses.replace(t, filler=None) for t in shipped.tools]
        ),
    }
    await shipped.prepare()
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in bots}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(runs):
            order = list(bots) if i % 2 == 0 else list(reversed(bots))
            for name in order:
                out = Path(tmp) / f"{name}_{i}.wav"
                conv = await run_conversation(bots[name], CALLER, out, env={}, linger_secs=1.0)
                first = conv.user_turns[0]
                r = tool_turn(out, first.bot_text)
                r.update(
                    heard=first.user_text,
                    said=first.bot_text,
                    tools=[c.name for c in first.tool_calls],
                    states_the_result="closed" in first.bot_text.lower(),
                )
                rows[name].append(r)
                print(f"{name:9} run {i + 1}: {r['bot_segments']} {first.bot_text!r}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("outputs", nargs="*", type=Path, help="only read these `voicebot run` files")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--name", default="tool_turn_audio")
    args = p.parse_args(argv)
    if args.outputs:
        for f in args.outputs:
            print(f, tool_turn(f))  # without the words: the answer is the first stretch
        return
    setup(cpu=-1)  # both cores: the bot runs as `make demo` runs it
    rows = asyncio.run(run(args.runs))
    out = []
    for name, rs in rows.items():
        first = dist([r["first_audio_secs"] for r in rs if r["first_audio_secs"] is not None])
        answer = dist([r["answer_secs"] for r in rs if r["answer_secs"] is not None])
        right = [r["answer_secs"] for r in rs if r["states_the_result"] and r["answer_secs"]]
        out.append([name, len(rs), f"{first['p50']:.2f} ({first['max']:.2f})",
                    f"{answer['p50']:.2f} ({answer['max']:.2f})",
                    f"{len(right)}/{len(rs)}", f"{dist(right)['p50'] or 0:.2f}"])  # fmt: skip
    head = ["contender", "runs", "first audio p50 (max), s", "answer p50 (max), s",
            "answer says closed", "its answer p50, s"]  # fmt: skip
    print(table(head, out, "make demo's tool turn, caller side"))
    from voicebot.providers.local.llama import TOOL_ANSWER_IN_SECS

    path = save(
        args.name,
        {
            "runs": rows,
            "config": {
                "bot": "examples/offline_bot.py (WhisperSTT base, LlamaLLM balanced, PiperTTS, "
                "Silero, SmartTurn: the offline default)",
                "caller": str(CALLER.relative_to(ROOT)),
                "tool_answer_in_secs": TOOL_ANSWER_IN_SECS,
                "timed_from": "the end of the caller's question (audio), to bot audio starts",
            },
        },
    )
    print(f"→ {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
