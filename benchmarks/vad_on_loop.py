"""CPU of a call's Silero VAD with the model run on Pipecat's thread and on the event loop.

Pipecat's ``VADAnalyzer.analyze_audio`` hands every audio frame to a one-thread executor and
awaits it: per frame, a wake-up of that thread and a wake-up of the event loop (the future's
result comes back through the loop's self-pipe). On a phone worker under load (py-spy, 12
calls on 2 cores) that hop showed up as about as much CPU as the model itself. voicebot's
Silero analyzer runs the same step on the event loop (``pipecat_compat``). This feeds the
same audio through both, frame by frame with a pause between frames (so the thread sleeps
between frames, as in a call), contenders interleaved, and counts the process's CPU time
(every thread) per second of audio. The VAD states must come out the same.

    .venv/bin/python benchmarks/vad_on_loop.py [--seconds 60] [--repeats 3] [--frame 0.04]
    # prints a table, writes results/vad_on_loop.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np
from pipecat.audio.vad.vad_analyzer import VADAnalyzer, VADParams

from voicebot.providers.onnx_sessions import silero_analyzer

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
WAV = ROOT / "examples" / "audio" / "two_turns.wav"  # 16 kHz: two questions and pauses
GAP_SECS = 0.004  # between frames: the executor's thread goes idle, as it does in a call


def frames(seconds: float, frame_secs: float) -> list[bytes]:
    with wave.open(str(WAV)) as w:
        audio = np.frombuffer(w.readframes(w.getnframes()), np.int16)
    repeats = int(np.ceil(seconds * 16000 / audio.size))
    audio = np.tile(audio, repeats)[: int(seconds * 16000)]
    size = int(16000 * frame_secs)
    return [audio[i : i + size].tobytes() for i in range(0, audio.size - size + 1, size)]


async def one_run(chunks: list[bytes], on_loop: bool) -> dict[str, Any]:
    vad = silero_analyzer(VADParams())
    vad.set_sample_rate(16000)
    step = vad.analyze_audio if on_loop else (lambda b: VADAnalyzer.analyze_audio(vad, b))
    states = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for chunk in chunks:
        states.append(await step(chunk))
        await asyncio.sleep(GAP_SECS)
    cpu = time.process_time() - cpu0
    wall = time.perf_counter() - wall0
    await vad.cleanup()
    audio_secs = len(chunks) * len(chunks[0]) / 2 / 16000
    return {
        "cpu_s": cpu,
        "wall_s": wall,
        "cpu_ms_per_audio_second": 1000 * cpu / audio_secs,
        "states": [s.name for s in states],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="audio per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs per contender, interleaved")
    parser.add_argument("--frame", type=float, default=0.04, help="frame length (s)")
    parser.add_argument("--out", type=Path, default=RESULTS / "vad_on_loop.json")
    opts = parser.parse_args()
    if opts.seconds <= 0 or opts.repeats < 1 or not 0.01 <= opts.frame <= 0.2:
        parser.error("--seconds > 0, --repeats >= 1, --frame in 0.01..0.2")
    chunks = frames(opts.seconds, opts.frame)
    load_before = os.getloadavg()
    runs: dict[str, list[dict[str, Any]]] = {"pipecat_thread": [], "event_loop": []}
    for _ in range(opts.repeats):  # interleaved: drift in the host's load hits both
        runs["pipecat_thread"].append(asyncio.run(one_run(chunks, on_loop=False)))
        runs["event_loop"].append(asyncio.run(one_run(chunks, on_loop=True)))
    same = all(
        r["states"] == runs["pipecat_thread"][0]["states"] for rs in runs.values() for r in rs
    )
    print(f"{len(chunks)} frames of {opts.frame * 1000:g} ms ({opts.seconds:g} s of audio) a run")
    print(f"{'Silero run on':16} {'CPU ms per audio-second (median)':>34} {'runs':>24}")
    rows = {}
    for name, rs in runs.items():
        values = [r["cpu_ms_per_audio_second"] for r in rs]
        rows[name] = {
            "median_cpu_ms_per_audio_second": round(statistics.median(values), 3),
            "runs": [{k: v for k, v in r.items() if k != "states"} for r in rs],
        }
        shown = " ".join(f"{v:.2f}" for v in values)
        print(f"{name:16} {statistics.median(values):34.2f} {shown:>24}")
    saved = (
        rows["pipecat_thread"]["median_cpu_ms_per_audio_second"]
        - rows["event_loop"]["median_cpu_ms_per_audio_second"]
    )
    print(
        f"same VAD states: {same}; saved {saved:.2f} ms of CPU per call-second "
        f"({saved / 10:.2f} % of a core per call)"
    )
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    opts.out.write_text(
        json.dumps(
            {
                "config": {
                    "seconds": opts.seconds,
                    "frame_secs": opts.frame,
                    "gap_secs": GAP_SECS,
                    "repeats": opts.repeats,
                    "audio": str(WAV.relative_to(ROOT)),
                    "vad": "Silero (pipecat-ai's ONNX), VADParams() defaults, 16 kHz",
                    "python": platform.python_version(),
                    "cpus": os.cpu_count(),
                    "loadavg_before": load_before,
                    "loadavg_after": os.getloadavg(),
                },
                "same_states": same,
                "results": rows,
                "saved_cpu_ms_per_call_second": round(saved, 3),
            },
            indent=1,
        )
    )
    print(f"wrote {opts.out}")
    if not same:
        raise SystemExit("the two ways decided differently")


if __name__ == "__main__":
    main()
