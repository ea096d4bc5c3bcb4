"""(f) Speculative replies: voice-to-voice with the reply started at the pause, against
stock Pipecat and against voicebot without speculation, in the same run.

Setup. A synthetic caller asks short questions (3 s apart); energy VAD; the turn ends 500 ms
after the caller's last sound (a silence strategy, as a cloud bot without a turn model would
have: VAD stop 200 ms + 300 ms). Vendors of fixed latency, as the latency issue names them:
STT finalization 125 ms after the VAD stop, LLM first token 350 ms, TTS first audio 125 ms.
Two callers: **questions** (0.6 s each, no pause) and **a pause mid-question** (0.5 s, a
300 ms pause, 0.4 s: the VAD stops, the turn does not end). Four contenders, alternating
order per block, one pinned core:
- **stock**: a Pipecat pipeline written by hand (``benchmarks.common.build_stock``);
- **ours**: ``voicebot.Bot`` with ``SilenceTurn(silence_secs=0.3)``;
- **ours, speculative**: the same with ``speculate=True``;
- **ours, speculative at 100 ms**: ``speculate=True`` with the VAD's stop at 100 ms and the
  turn's silence at 400 ms, so the caller's end of turn is still 500 ms of silence: the
  transcript is finalized (and the reply started) 100 ms earlier.
Voice-to-voice is read off the WAV files (caller's end of speech → first bot sample); extra
LLM requests are the requests the LLM got beyond one per answered question.

Expected, before measuring. Stock and ours: 200 + 300 + 350 + 125 = 975 ms plus a few ms.
Speculative: the LLM starts at the transcript, 200 + 125 = 325 ms, first token at 675 ms,
after the turn's end at 500 ms, so first audio at ~800 ms (0.82 x stock). At 100 ms: the
transcript at 225 ms, first token at 575 ms, audio ~700 ms (0.72 x stock). With a pause
mid-question, every speculation made at the pause is withdrawn when the caller goes on:
one extra LLM request per question for both speculative contenders, the same latencies.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import (
    BUILDERS,
    Script,
    Vendors,
    dist,
    first_sound_after,
    machine,
    ms,
    read_samples,
    run_all,
    save,
    setup,
    table,
)

VENDORS = Vendors(
    stt_secs=0.125,
    ttft_secs=0.35,
    ttfb_secs=0.125,
    vad="energy",
    vad_stop_secs=0.2,
    turn="silence",
    silence_secs=0.3,
)
CONTENDERS = {
    "stock": ("stock", VENDORS),
    "ours": ("ours", VENDORS),
    "ours, speculative": ("ours", dataclasses.replace(VENDORS, speculate=True)),
    "ours, speculative at 100 ms": (
        "ours",
        dataclasses.replace(VENDORS, speculate=True, vad_stop_secs=0.1, silence_secs=0.4),
    ),
}
#: caller -> (its questions' sounds, as (start, seconds) from the question's start; the words
#: the fake STT returns, one per VAD stop)
CALLERS: dict[str, tuple[list[tuple[float, float]], list[str]]] = {
    "questions": ([(0.0, 0.6)], ["What time do you open?"]),
    "a pause mid-question": ([(0.0, 0.5), (0.8, 0.4)], ["What time do you", "open on Sundays?"]),
}
GAP_SECS = 3.0  # from one question's start to the next
GOAL_RATIO = 0.75  # the latency issue's Done-when: p50 <= 0.75 x stock's


def caller_plan(caller: str, turns: int) -> tuple[list[tuple[float, float]], list[float]]:
    """Every sound the caller makes, and the end of each question."""
    sounds, _ = CALLERS[caller]
    plan, ends = [], []
    for i in range(turns):
        t0 = 0.5 + GAP_SECS * i
        plan += [(t0 + start, secs) for start, secs in sounds]
        ends.append(t0 + sounds[-1][0] + sounds[-1][1])
    return plan, ends


async def one_session(
    label: str, caller_name: str, turns: int, tmp: Path, tag: str
) -> dict[str, Any]:
    from voicebot.testing import write_caller_wav

    builder, vendors = CONTENDERS[label]
    plan, ends = caller_plan(caller_name, turns)
    caller = write_caller_wav(tmp / f"caller_{tag}.wav", plan, total_secs=ends[-1] + GAP_SECS)
    out = tmp / f"out_{tag}.wav"
    words = CALLERS[caller_name][1]
    script = Script(words * turns, ["We open at nine."] * (3 * turns))
    contender = BUILDERS[builder](vendors, script, caller, out, linger_secs=0.6)
    await run_all([contender])
    samples, rate = read_samples(out)
    v2v = []
    for i, end in enumerate(ends):
        until = ends[i] + GAP_SECS - 0.6 if i + 1 < len(ends) else None
        heard = first_sound_after(samples, rate, end, until)
        if heard is not None:
            v2v.append(heard - end)
    llm = contender.session.llm if contender.session is not None else contender.extra["llm"]
    return {"v2v": v2v, "answered": len(v2v), "asked": turns, "llm_requests": len(llm.requests)}


async def main_async(blocks: int, turns: int) -> dict[str, Any]:
    names = list(CONTENDERS)
    acc = {
        (c, n): {"v2v": [], "answered": 0, "asked": 0, "llm_requests": 0}
        for c in CALLERS
        for n in names
    }
    with tempfile.TemporaryDirectory(prefix="bench-speculation-") as d:
        for b in range(blocks):
            order = names[b % len(names) :] + names[: b % len(names)]
            for caller in CALLERS:
                for i, name in enumerate(order):
                    r = await one_session(name, caller, turns, Path(d), f"b{b}_{i}")
                    a = acc[(caller, name)]
                    for k in ("answered", "asked", "llm_requests"):
                        a[k] += r[k]
                    a["v2v"] += r["v2v"]
    out: dict[str, Any] = {
        "config": {
            "vendors": {n: dataclasses.asdict(v) for n, (_, v) in CONTENDERS.items()},
            "callers": {c: {"sounds": s, "words": w} for c, (s, w) in CALLERS.items()},
            "blocks": blocks,
            "turns_per_session": turns,
            "caller": f"synthetic tone, a question every {GAP_SECS} s",
            "load_average": os.getloadavg(),
            "machine": machine(),
        },
        "goal_ratio": GOAL_RATIO,
        "callers": {},
    }
    for caller in CALLERS:
        rows: dict[str, Any] = {}
        for name in names:
            a = acc[(caller, name)]
            rows[name] = {
                "voice_to_voice": dist(a["v2v"]),
                "answered": a["answered"],
                "asked": a["asked"],
                "llm_requests": a["llm_requests"],
                "extra_llm_requests_per_question": (a["llm_requests"] - a["answered"])
                / max(a["asked"], 1),
            }
        stock = rows["stock"]["voice_to_voice"]["p50"]
        for name in names:
            p50 = rows[name]["voice_to_voice"]["p50"]
            rows[name]["ratio_p50_to_stock"] = p50 / stock if p50 and stock else None
        out["callers"][caller] = rows
    return out


def report(r: dict[str, Any]) -> str:
    parts = []
    for caller, rows in r["callers"].items():
        lines = []
        for name, x in rows.items():
            v = x["voice_to_voice"]
            ratio = x["ratio_p50_to_stock"]
            lines.append(
                [
                    name,
                    f"{x['answered']}/{x['asked']}",
                    ms(v["p50"]),
                    ms(v["p95"]),
                    "-" if ratio is None else f"{ratio:.2f}",
                    f"{x['extra_llm_requests_per_question']:.2f}",
                ]
            )
        title = (
            f"(f) speculative replies, caller: {caller}; voice-to-voice ms (STT 125, LLM TTFT "
            f"350, TTS 125; the turn ends after 500 ms of silence); goal p50 ≤ "
            f"{r['goal_ratio']} x stock"
        )
        parts.append(
            table(
                ["", "turns", "p50", "p95", "x stock p50", "extra LLM requests / question"],
                lines,
                title,
            )
        )
    return "\n\n".join(parts)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--blocks", type=int, default=3)
    p.add_argument("--turns", type=int, default=6, help="caller questions per session")
    args = p.parse_args(argv)
    setup()
    r = asyncio.run(main_async(args.blocks, args.turns))
    path = save("speculation", r)
    print(report(r))
    print(f"→ {path.relative_to(path.parents[2])}")
    return r


if __name__ == "__main__":
    main()
