"""How long a new session's start stalls the calls already running on the same event loop.

Setup. ``--calls`` sessions (default 4) run on one event loop, as under ``voicebot serve``:
each plays a synthetic caller (a 1.2 s utterance every 3 s) in real time through the
default analyzers (Silero VAD, smart-turn v3) and fake vendors with vendor-like delays
(STT 150 ms, LLM first token 300 ms, TTS first audio 150 ms). A ticker task sleeps 1 ms
in a loop and records each gap between wake-ups: the longest gap in a window is the
longest the loop was unavailable to every call (an audio frame is 20 ms).

Each repetition measures four windows, in this order: a baseline (no start), a session
built the blocking way (``bot.session()`` on the loop, what the playground did), another
baseline, and a session started the async way (``await bot.start_session()``: models and
the ONNX analyzers in a worker thread). A start's window is the start itself plus 50 ms;
a baseline window is as long as the start before it. "Added" is a start window's longest
gap minus the median of the baseline windows' longest gaps. The sessions started are
built, not run. One start of each kind before measuring takes the one-off import costs.

Expected, before measuring: blocking ~140-200 ms added (the ONNX sessions: Silero
~70-100 ms, smart-turn ~60-140 ms, measured alone); async a few ms, from the GIL the
worker thread holds between bytecodes (the default 5 ms switch interval) and the part of
the build that stays on the loop (Pipecat processors, a few ms). Target: <= 5 ms added.

    .venv/bin/python -m benchmarks.session_start_stall [--calls 4] [--reps 10]

Writes benchmarks/results/session_start_stall.json (configuration, load average, every
window).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import machine, save, setup, table

FAKE_DELAYS = {"stt_secs": 0.15, "ttft_secs": 0.3, "ttfb_secs": 0.15}


class Ticker:
    """Wakes every 1 ms; ``max_gap(a, b)`` is the longest gap that ended within [a, b]."""

    def __init__(self) -> None:
        self.gaps: list[tuple[float, float]] = []  # (gap, when it ended)
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            self.gaps.append((now - last, now))
            last = now

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def max_gap(self, a: float, b: float) -> float:
        return max((g for g, at in self.gaps if a <= at <= b), default=0.0)


def make_bot(caller: Path, out: Path) -> Any:
    from voicebot import Bot, SileroVAD, SmartTurn, WavFile
    from voicebot.testing import FakeLLM, FakeSTT, FakeTTS

    return Bot(
        transport=WavFile(input=caller, output=out, linger_secs=0.5),
        stt=FakeSTT(transcripts=["What time do you open?"], latency_secs=FAKE_DELAYS["stt_secs"]),
        llm=FakeLLM(replies=["We open at nine."], ttft_secs=FAKE_DELAYS["ttft_secs"]),
        tts=FakeTTS(ttfb_secs=FAKE_DELAYS["ttfb_secs"]),
        vad=SileroVAD(),
        turn=SmartTurn(),
    )


async def measure(calls: int, reps: int, call_secs: float, tmp: Path) -> dict[str, Any]:
    from voicebot.testing import write_caller_wav

    utterances = [(0.5 + 3.0 * i, 1.2) for i in range(int(call_secs // 3.0))]
    caller = write_caller_wav(tmp / "caller.wav", utterances, total_secs=call_secs)
    bots = [make_bot(caller, tmp / f"call{i}.wav") for i in range(calls)]
    starter = make_bot(caller, tmp / "new.wav")
    await starter.prepare()
    starter.session(env={})  # one of each kind first: the one-off imports and setup
    await starter.start_session(env={})

    ticker = Ticker()
    ticker.start()
    sessions = [bot.session(env={}) for bot in bots]
    running = [asyncio.create_task(s.run()) for s in sessions]
    await asyncio.sleep(1.5)  # the calls are under way

    windows: list[dict[str, Any]] = []

    async def window(kind: str, secs: float | None = None) -> float:
        a = time.perf_counter()
        if kind == "blocking":
            starter.session(env={})
        elif kind == "async":
            await starter.start_session(env={})
        else:
            await asyncio.sleep(secs or 0.2)
        took = time.perf_counter() - a
        if kind != "baseline":
            await asyncio.sleep(0.05)
        windows.append(
            {"kind": kind, "secs": took, "max_gap": ticker.max_gap(a, time.perf_counter())}
        )
        await asyncio.sleep(0.25)  # let the loop settle between windows
        return took

    for _ in range(reps):
        await window("baseline", 0.2)
        took = await window("blocking")
        await window("baseline", took + 0.05)
        await window("async")
    ticker.stop()
    for s in sessions:
        await s.end()
    await asyncio.wait(running, timeout=call_secs + 30)
    for task in running:
        task.cancel()
    return {"windows": windows, "turns": [len(s.turns) for s in sessions]}


def summarize(windows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    base = statistics.median(w["max_gap"] for w in windows if w["kind"] == "baseline")
    rows = []
    for kind in ("baseline", "blocking", "async"):
        gaps = [w["max_gap"] for w in windows if w["kind"] == kind]
        secs = [w["secs"] for w in windows if w["kind"] == kind]
        rows.append(
            {
                "kind": kind,
                "n": len(gaps),
                "start_ms_p50": 1000 * statistics.median(secs) if kind != "baseline" else None,
                "max_gap_ms_p50": 1000 * statistics.median(gaps),
                "max_gap_ms_max": 1000 * max(gaps),
                "added_ms_p50": 1000 * (statistics.median(gaps) - base),
                "added_ms_max": 1000 * (max(gaps) - base),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=4, help="calls running meanwhile")
    parser.add_argument("--reps", type=int, default=10, help="starts of each kind")
    parser.add_argument("--cpu", type=int, default=-1, help="pin to this CPU (-1: no pin)")
    args = parser.parse_args()
    cpu = setup(args.cpu)
    call_secs = 3.0 + args.reps * 2.5  # the calls outlast the measurement
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(measure(args.calls, args.reps, call_secs, Path(tmp)))
    load_after = os.getloadavg()
    rows = summarize(result["windows"])

    def cell(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}"

    print(
        table(
            ["start", "n", "start ms p50", "max gap p50", "max gap max", "added p50", "added max"],
            [
                [
                    r["kind"],
                    r["n"],
                    cell(r["start_ms_p50"]),
                    cell(r["max_gap_ms_p50"]),
                    cell(r["max_gap_ms_max"]),
                    cell(r["added_ms_p50"]),
                    cell(r["added_ms_max"]),
                ]
                for r in rows
            ],
            title=(
                f"event-loop stall while {args.calls} calls run (ms); load average "
                f"{load_before[0]:.2f} -> {load_after[0]:.2f} on {os.cpu_count()} CPUs"
            ),
        )
    )
    path = save(
        "session_start_stall",
        {
            "config": {
                "calls": args.calls,
                "reps": args.reps,
                "cpu_pinned": cpu,
                "call_secs": call_secs,
                "analyzers": "SileroVAD + SmartTurn (v3 ONNX)",
                "fake_delays_secs": FAKE_DELAYS,
                "ticker_sleep_secs": 0.001,
                "load_average_before": load_before,
                "load_average_after": load_after,
            },
            "summary": rows,
            "turns_answered_per_call": result["turns"],
            "windows": result["windows"],
            "machine_at_end": machine(),
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
