"""(a) Orchestration overhead: voice-to-voice minus the simulated vendors' critical path.

Setup. A synthetic caller says 8 short utterances (0.3 s, 1.9 s apart) per session; the
bot hears them with an energy VAD (start 60 ms, stop 200 ms) and ends the turn 300 ms after
the VAD stop. Vendors of fixed latency: STT 100 ms (hidden under the 300 ms turn timeout),
LLM 200 ms to first token (the whole reply at once), TTS 100 ms to first audio. Critical
path = 200 + 300 + 200 + 100 = 800 ms. Voice-to-voice is read off the audio files: from the
caller's end of speech (exact: the caller is synthetic) to the first non-zero sample of the
bot's audio on the same timeline (sample-accurate). Overhead = voice-to-voice − 800 ms.
Three blocks of ours and stock, alternating which goes first, all on one pinned core.

Expected, before measuring. Between "user quiet" and "first audio" Pipecat moves a handful
of frames through ~7 queued hops each (VAD stop → user aggregator → LLM → TTS → output),
~20 µs a hop on this VM, so well under 1 ms. What is not plumbing is timer jitter: five
timers sit on the path (the caller's 20 ms frame clock, the turn timeout, the STT, LLM and
TTS sleeps), and an ``asyncio.sleep`` on this VM overshoots ~1 ms at p50 and ~9 ms at p99,
more under other people's load. So stock: ~3-6 ms p50, 10-20 ms p95. Ours: the same plus
well under 1 ms, because voicebot's two observers (turn log, latency breakdown) run in
their own tasks off the critical path and metrics frames add a few pushes per turn. The
goal (≤ 10 ms p95 for ours) should hold at p50; p95 is at the mercy of the shared timers,
which is why the figure that isolates voicebot is ours − stock.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import (
    BUILDERS,
    Script,
    Vendors,
    dist,
    first_sound_after,
    ms,
    read_samples,
    run_all,
    save,
    setup,
    table,
)

VENDORS = Vendors(
    stt_secs=0.1, ttft_secs=0.2, ttfb_secs=0.1, vad="energy", vad_stop_secs=0.2, silence_secs=0.3
)
GOAL_P95_SECS = 0.010


def caller_plan(turns: int) -> list[tuple[float, float]]:
    return [(0.5 + 1.9 * i, 0.3) for i in range(turns)]


async def one_session(name: str, turns: int, tmp: Path, tag: str) -> dict[str, Any]:
    from voicebot.testing import write_caller_wav

    plan = caller_plan(turns)
    caller = write_caller_wav(tmp / f"caller_{tag}.wav", plan, total_secs=plan[-1][0] + 1.9)
    out = tmp / f"{name}_{tag}.wav"
    script = Script(["Hello there."] * turns, ["Okay."] * turns)
    contender = BUILDERS[name](VENDORS, script, caller, out, linger_secs=0.6)
    await run_all([contender])
    samples, rate = read_samples(out)
    v2v = []
    for i, (start, dur) in enumerate(plan):
        end = start + dur
        until = plan[i + 1][0] if i + 1 < len(plan) else None
        heard = first_sound_after(samples, rate, end, until)
        if heard is not None:
            v2v.append(heard - end)
    stages: dict[str, list[float]] = {}
    if contender.session is not None:
        for t in contender.session.turn_log.user_turns():
            for k, secs in t.stages.items():
                stages.setdefault(k, []).append(secs)
    return {"v2v": v2v, "stages": stages, "answered": len(v2v), "asked": turns}


async def main_async(blocks: int, turns: int) -> dict[str, Any]:
    results: dict[str, dict[str, Any]] = {
        n: {"v2v": [], "stages": {}, "answered": 0, "asked": 0} for n in BUILDERS
    }
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as d:
        tmp = Path(d)
        for b in range(blocks):
            order = ["ours", "stock"] if b % 2 == 0 else ["stock", "ours"]
            for name in order:
                r = await one_session(name, turns, tmp, f"b{b}")
                acc = results[name]
                acc["v2v"] += r["v2v"]
                acc["answered"] += r["answered"]
                acc["asked"] += r["asked"]
                for k, vals in r["stages"].items():
                    acc["stages"].setdefault(k, []).extend(vals)
    critical = VENDORS.critical_path()
    out: dict[str, Any] = {"critical_path_secs": critical, "vendors": VENDORS.__dict__}
    for name, acc in results.items():
        overhead = [v - critical for v in acc["v2v"]]
        out[name] = {
            "voice_to_voice": dist(acc["v2v"]),
            "overhead": dist(overhead),
            "answered": acc["answered"],
            "asked": acc["asked"],
            "stages_p50": {k: dist(v)["p50"] for k, v in acc["stages"].items()},
        }
    o, s = out["ours"]["overhead"], out["stock"]["overhead"]
    out["ours_minus_stock"] = {
        "p50": (o["p50"] or 0) - (s["p50"] or 0),
        "p95": (o["p95"] or 0) - (s["p95"] or 0),
    }
    out["goal"] = {"ours_overhead_p95_secs_at_most": GOAL_P95_SECS}
    out["met"] = bool(o["p95"] is not None and o["p95"] <= GOAL_P95_SECS)
    return out


def report(r: dict[str, Any]) -> str:
    rows = []
    for name in ("ours", "stock"):
        x = r[name]
        v, o = x["voice_to_voice"], x["overhead"]
        rows.append(
            [
                name,
                f"{x['answered']}/{x['asked']}",
                ms(v["p50"]),
                ms(v["p95"]),
                ms(o["p50"]),
                ms(o["p95"]),
                ms(o["max"]),
            ]
        )
    d = r["ours_minus_stock"]
    rows.append(["ours − stock", "", "", "", ms(d["p50"]), ms(d["p95"]), ""])
    title = (
        f"(a) orchestration overhead, ms (critical path {ms(r['critical_path_secs'], 0)} ms; "
        f"goal: ours p95 ≤ {ms(GOAL_P95_SECS, 0)} ms → {'met' if r['met'] else 'MISSED'})"
    )
    text = table(
        ["", "turns", "v2v p50", "v2v p95", "overhead p50", "overhead p95", "overhead max"],
        rows,
        title,
    )
    stages = r["ours"]["stages_p50"]
    if stages:
        text += "\nours, in-bot breakdown p50 (ms): " + ", ".join(
            f"{k} {ms(v)}" for k, v in stages.items()
        )
    return text


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--blocks", type=int, default=3)
    p.add_argument("--turns", type=int, default=8, help="caller utterances per session")
    args = p.parse_args(argv)
    setup()
    r = asyncio.run(main_async(args.blocks, args.turns))
    path = save("overhead", r)
    print(report(r))
    print(f"→ {path.relative_to(path.parents[2])}")
    return r


if __name__ == "__main__":
    main()
