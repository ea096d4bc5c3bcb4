"""(e) Endpointing cost: VAD stop → turn decided, per turn, with smart-turn v3.2.

Setup. The recorded caller (examples/audio/two_turns.wav: two questions) plays three times for
each contender; Silero VAD (stop 200 ms) and Pipecat's local smart-turn v3.2 model (the
bot's default turn strategy), with a fast simulated STT (10 ms) so the model, not the STT,
decides when the turn ends. An observer in both pipelines stamps, on the pipeline clock,
the VAD's stop (``VADUserStoppedSpeakingFrame``) and the turn's release
(``UserStoppedSpeakingFrame``); the model's own time comes from its ``TurnMetricsData``
(``e2e_processing_time_ms``), one per call. A 300 ms silence strategy runs alongside as
the reference for what a fixed timeout costs.

Expected, before measuring. Smart-turn runs once per VAD stop, on up to 8 s of audio, in a
thread: 200-240 ms per call on this VM (notes §3), more when other work shares the core.
When it says "complete", the turn is released right after, so VAD stop → decided ≈ the
model's time plus a few ms of hand-offs. A pause mid-sentence also costs a call (and the
model may say "incomplete", then decide on the next stop). Ours and stock run the same
model, so they should match within noise; the silence strategy costs its 300 ms by design.

Added 2026-12-03: ours with ``SmartTurn(early_secs=0.064)`` (the model asked 64 ms into
the pause, docs/offline.md). Expected: decided with the STT (~10-15 ms after the stop)
where its verdict is sure, the model's time where it is asked again at the stop.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import tempfile
from typing import Any

from pipecat.frames.frames import (
    MetricsFrame,
    UserStoppedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.metrics.metrics import TurnMetricsData
from pipecat.observers.base_observer import BaseObserver, FramePushed

from benchmarks.common import (
    SPEECH_WAV,
    Script,
    Vendors,
    build_ours,
    build_stock,
    dist,
    ms,
    run_all,
    save,
    setup,
    table,
)

SMART = Vendors(
    stt_secs=0.01,
    ttft_secs=0.1,
    ttfb_secs=0.05,
    vad="silero",
    vad_start_secs=0.2,
    vad_stop_secs=0.2,
    turn="smart-turn",
)
#: Ours with smart-turn asked 64 ms into the pause (``SmartTurn(early_secs=0.064)``): the
#: verdict is ready by the VAD's stop, so the turn should be decided with the STT's 10 ms.
SMART_EARLY = dataclasses.replace(SMART, turn_early_secs=0.064)
SILENCE = Vendors(
    stt_secs=0.01,
    ttft_secs=0.1,
    ttfb_secs=0.05,
    vad="silero",
    vad_start_secs=0.2,
    vad_stop_secs=0.2,
    turn="silence",
    silence_secs=0.3,
)
SCRIPT = Script(
    ["Hi, what time does the library open tomorrow?", "Great, thank you very much."],
    ["It opens at nine.", "Goodbye!"],
)


class EndpointClock(BaseObserver):
    """VAD stop → turn released, on the pipeline clock, and smart-turn's own timings."""

    def __init__(self) -> None:
        super().__init__(observe_every_push=False)
        self.decided: list[float] = []
        self.model_ms: list[float] = []
        self._vad_stop: int | None = None

    async def on_push_frame(self, data: FramePushed) -> None:
        f = data.frame
        if isinstance(f, VADUserStoppedSpeakingFrame):
            self._vad_stop = data.timestamp
        elif isinstance(f, UserStoppedSpeakingFrame) and self._vad_stop is not None:
            self.decided.append((data.timestamp - self._vad_stop) / 1e9)
            self._vad_stop = None
        elif isinstance(f, MetricsFrame):
            for m in f.data:
                if isinstance(m, TurnMetricsData):
                    self.model_ms.append(m.e2e_processing_time_ms)


async def one_run(name: str, vendors: Vendors) -> tuple[list[float], list[float]]:
    clock = EndpointClock()
    script = Script(list(SCRIPT.transcripts), list(SCRIPT.replies))
    if name == "ours":
        c = build_ours(vendors, script, SPEECH_WAV, None, linger_secs=0.5)
        c.worker.add_observer(clock)
    else:
        c = build_stock(
            vendors,
            script,
            SPEECH_WAV,
            None,
            linger_secs=0.5,
            observers=[clock],
            enable_metrics=True,
        )
    await run_all([c])
    return clock.decided, [x / 1000 for x in clock.model_ms]


async def main_async(runs: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    acc: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-endpointing-"):
        for r in range(runs):
            order = ("ours", "stock", "ours-early")
            for name in order if r % 2 == 0 else order[::-1]:
                vendors = SMART_EARLY if name == "ours-early" else SMART
                decided, model = await one_run(name.removesuffix("-early"), vendors)
                key = f"{name} smart-turn"
                if name == "ours-early":
                    key = "ours smart-turn at the pause"
                a = acc.setdefault(key, {"decided": [], "model": []})
                a["decided"] += decided
                a["model"] += model
        decided, _ = await one_run("ours", SILENCE)
        acc["ours silence 300 ms"] = {"decided": decided, "model": []}
    for key, a in acc.items():
        out[key] = {
            "vad_stop_to_decided": dist(a["decided"]),
            "model_secs": dist(a["model"]),
            "per_turn": a["decided"],
        }
    out["vendors"] = {
        "smart": SMART.__dict__,
        "smart_early": SMART_EARLY.__dict__,
        "silence": SILENCE.__dict__,
    }
    return out


def report(r: dict[str, Any]) -> str:
    rows = []
    for key, x in r.items():
        if not (isinstance(x, dict) and "vad_stop_to_decided" in x):
            continue
        d, m = x["vad_stop_to_decided"], x["model_secs"]
        rows.append(
            [
                key,
                d["n"],
                ms(d["p50"]),
                ms(d["p95"]),
                ms(d["max"]),
                m["n"] or "-",
                ms(m["p50"]),
                ms(m["p95"]),
            ]
        )
    return table(
        ["", "turns", "decided p50", "p95", "max", "model calls", "model p50", "model p95"],
        rows,
        "(e) endpointing, VAD stop → turn decided, ms (recorded speech, Silero VAD)",
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3, help="plays of the recording per contender")
    args = p.parse_args(argv)
    setup()
    r = asyncio.run(main_async(args.runs))
    path = save("endpointing", r)
    print(report(r))
    print(f"→ {path.relative_to(path.parents[2])}")
    return r


if __name__ == "__main__":
    main()
