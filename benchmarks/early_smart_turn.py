"""Smart-turn asked inside the caller's pause instead of at the VAD's stop: same verdicts?

``SmartTurn(early_secs=...)`` starts the model ``early_secs`` into a pause, on the audio so
far plus room tone for the quiet the VAD still waits through (0.2 s in all), so its verdict
is ready by the stop instead of 50-300 ms after it. That is only worth it if the verdicts
are the ones the stop would have given, and if the model calls made for pauses the caller
talks through (wasted: the stop never comes) are few.

On offline_stt's clips (5 LibriVox sentences, 5 card names, ~340 telephone prompts; 0.5 s of
silence before, 1 s after), each clip runs through voicebot's Silero VAD (20 ms chunks) and
the session's ``PauseWatch`` as a call would, in the user aggregator's order (the VAD hears
a chunk, then the turn analyzer gets it with the speech flag the VAD's frames had set), with
one smart-turn analyzer that is asked at the stop only (Pipecat's way, the baseline) and one
per ``--early`` setting. At every VAD stop each analyzer gives its verdict; compared with
the baseline's until the first stop where they differ (after it their buffers differ).

Scored per setting: each analyzer's cut-offs (clips whose turn was ended at a stop before
the last) and real ends judged incomplete (the last stop's "not yet": a 2 s fallback wait),
as ``vad_stop_smart_turn.py`` scores them; stops compared, verdicts that differ, the
probability's mean and max absolute difference (where the stop used an early verdict, the
probability is the early one); model calls made at pauses, how many verdicts the stop used,
how many it found too near the threshold (``EARLY_VERDICT_MARGIN``) and asked again, and
the wasted calls (made at pauses, not used).

Expected (written before the first run, session 13): the verdicts agree at >= 98 % of stops
(room tone instead of 0.1-0.14 s of real quiet at the end of an 8 s window); at 0.064 s
about one wasted call per clip with several words, fewer at 0.1 s.

    python benchmarks/early_smart_turn.py [--early 0.064,0.1] [--limit 40] [--set subfolders]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import machine, save, setup  # noqa: E402
from benchmarks.vad_stop_smart_turn import chosen_clips, padded_clips  # noqa: E402

RATE = 16000
CHUNK = 320  # 20 ms


async def run_clip(pcm: np.ndarray, settings: list[float]) -> dict[str, Any]:
    """One clip: the baseline's and every early analyzer's verdict at each VAD stop."""
    from pipecat.audio.turn.base_turn_analyzer import EndOfTurnState
    from pipecat.audio.turn.smart_turn.base_smart_turn import SmartTurnParams
    from pipecat.audio.vad.vad_analyzer import VADState

    from voicebot.conversation.pauses import PauseWatch
    from voicebot.providers.base import BuildContext
    from voicebot.providers.onnx_sessions import smart_turn_analyzer
    from voicebot.providers.silero import SileroVAD
    from voicebot.providers.turn import SmartTurn

    params = SmartTurnParams(stop_secs=SmartTurn().max_silence_secs)
    vad = SileroVAD().build(BuildContext(audio_in_sample_rate=RATE))
    vad.set_sample_rate(RATE)
    names = ["stop", *(str(s) for s in settings)]
    analyzers = {name: smart_turn_analyzer(params) for name in names}
    started = dict.fromkeys(names, 0)
    watch = PauseWatch(settings[0], [])
    for setting in settings:
        analyzer = analyzers[str(setting)]

        class Counted:  # counts the model calls started at pauses
            def __init__(self, a: Any, name: str) -> None:
                self.a, self.name = a, name

            def caller_paused(self, stop_in_secs: float) -> None:
                started[self.name] += 1
                self.a.caller_paused(stop_in_secs)

            def caller_resumed(self) -> None:
                self.a.caller_resumed()

        watch.add(Counted(analyzer, str(setting)), setting)
    watch.attach(vad)
    for a in analyzers.values():
        a.set_sample_rate(RATE)
    speaking = False  # as the turn strategy knows it: from the VAD's start and stop frames
    stops: list[dict[str, Any]] = []
    diverged: set[str] = set()
    try:
        for i in range(0, len(pcm) - CHUNK + 1, CHUNK):
            chunk = pcm[i : i + CHUNK].tobytes()
            state = await vad.analyze_audio(chunk)
            for a in analyzers.values():
                a.append_audio(chunk, speaking)
            if state == VADState.SPEAKING and not speaking:
                speaking = True
                for a in analyzers.values():
                    a.update_vad_start_secs(vad.params.start_secs)
            elif state == VADState.QUIET and speaking:
                speaking = False
                stop: dict[str, Any] = {"at_secs": round((i + CHUNK) / RATE, 2)}
                for name, a in analyzers.items():
                    before, again = a.early_verdicts, a.early_rechecked
                    verdict, metrics = await a.analyze_end_of_turn()
                    stop[name] = {
                        "complete": verdict == EndOfTurnState.COMPLETE,
                        "probability": float(getattr(metrics, "probability", -1.0)),
                        "early": a.early_verdicts > before,
                        "rechecked": a.early_rechecked > again,
                    }
                for name in names[1:]:
                    if name not in diverged and stop[name]["complete"] != stop["stop"]["complete"]:
                        diverged.add(name)
                        stop[name]["first_difference"] = True
                stops.append(stop)
        await asyncio.sleep(0)
    finally:
        for a in analyzers.values():
            await a.cleanup()
        await vad.cleanup()
    return {"stops": stops, "early_started": started}


def outcomes(rows: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """Each analyzer on its own, as vad_stop_smart_turn scores a clip: cut off (a stop before
    the last called complete) and real end judged incomplete (waits the 2 s fallback)."""
    judged = [r for r in rows if r["stops"]]
    cut = [any(s[name]["complete"] for s in r["stops"][:-1]) for r in judged]
    late = [
        not c and not r["stops"][-1][name]["complete"] for c, r in zip(cut, judged, strict=True)
    ]
    return {
        "clips_with_stops": len(judged),
        "cut_off_pct": round(100 * sum(cut) / max(1, len(judged)), 1),
        "end_incomplete_pct": round(100 * sum(late) / max(1, len(judged)), 1),
    }


def summarize(rows: list[dict[str, Any]], settings: list[float]) -> dict[str, Any]:
    out: dict[str, Any] = {"stop": outcomes(rows, "stop")}
    for setting in settings:
        name = str(setting)
        compared = differ = used = rechecked = 0
        deltas: list[float] = []
        for r in rows:
            used += sum(stop[name]["early"] for stop in r["stops"])
            rechecked += sum(stop[name].get("rechecked", False) for stop in r["stops"])
            for stop in r["stops"]:  # compared up to the first difference (then they part)
                s = stop[name]
                compared += 1
                deltas.append(abs(s["probability"] - stop["stop"]["probability"]))
                if s.get("first_difference"):
                    differ += 1
                    break
        calls = sum(r["early_started"][name] for r in rows)
        out[name] = {
            "clips": len(rows),
            "stops_compared": compared,
            "verdicts_differ": differ,
            "agree_pct": round(100 * (compared - differ) / max(1, compared), 1),
            "probability_diff_mean": round(float(np.mean(deltas)), 4) if deltas else None,
            "probability_diff_max": round(float(np.max(deltas)), 4) if deltas else None,
            "early_calls": calls,
            "early_used": used,
            "rechecked_at_stop": rechecked,
            "wasted_calls_per_clip": round((calls - used) / max(1, len(rows)), 2),
            **outcomes(rows, name),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--early", default="0.064,0.1", help="early_secs settings")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--name", default="early_smart_turn")
    parser.add_argument("--set", default="offline_stt", choices=["offline_stt", "subfolders"])
    parser.add_argument(
        "--pad",
        choices=["room-tone", "zeros"],
        default="room-tone",
        help="what stands in for the quiet still to come (voicebot: room tone)",
    )
    parser.add_argument(
        "--line-noise",
        type=float,
        default=0.0,
        help="RMS (16-bit units) of noise added to every clip, padding included (0: none)",
    )
    args = parser.parse_args()
    settings = [float(x) for x in args.early.split(",")]
    setup(-1)
    if args.pad == "zeros":  # before the first analyzer class is made (it imports room_tone)
        import voicebot.audio.room_tone as tone

        tone.room_tone = lambda pcm, secs, bytes_per_sec: bytes(int(secs * bytes_per_sec / 2) * 2)
    load_before = os.getloadavg()
    started = time.time()
    rows: list[dict[str, Any]] = []
    clips = chosen_clips(args.set, args.limit)
    for count, clip, padded in padded_clips(clips):
        if args.line_noise:  # a line's noise floor under the whole clip, seeded
            noise = np.random.default_rng(count).normal(0.0, args.line_noise, len(padded))
            padded = padded + (noise / 32767).astype(np.float32)
        pcm = (np.clip(padded, -1, 1) * 32767).astype("<i2")
        rows.append({"clip": clip.name, "set": clip.set, **asyncio.run(run_clip(pcm, settings))})
        if count % 50 == 0:
            print(f"  {count}/{len(clips)} clips, {time.time() - started:.0f} s", flush=True)
    summary = summarize(rows, settings)
    command = " ".join(["python benchmarks/early_smart_turn.py", *sys.argv[1:]])
    print(f"\n{command}  ({args.set}, {len(rows)} clips)\n")
    print(
        "| asked at | cut-offs (clips) | real ends judged incomplete | stops compared "
        "| verdicts differ | mean / max |Δp| | model calls at pauses | used at the stop "
        "| asked again at the stop | wasted per clip |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, s in summary.items():
        head = f"| {name if name == 'stop' else name + ' s into the pause'} "
        head += f"| {s['cut_off_pct']} % | {s['end_incomplete_pct']} % "
        if name == "stop":
            print(head + "| | | | | | | |")
            continue
        print(
            head + f"| {s['stops_compared']} | {s['verdicts_differ']} "
            f"| {s['probability_diff_mean']} / {s['probability_diff_max']} | {s['early_calls']} "
            f"| {s['early_used']} | {s['rechecked_at_stop']} | {s['wasted_calls_per_clip']} |"
        )
    path = save(
        args.name,
        {
            "config": {
                "command": command,
                "set": args.set,
                "line_noise_rms": args.line_noise,
                "pad": args.pad,
                "early_secs": settings,
                "vad": "voicebot SileroVAD() defaults (stop_secs 0.2), 20 ms chunks",
                "turn": "voicebot SmartTurn() defaults (smart-turn v3, threshold 0.5)",
                "load_avg_before": load_before,
                "load_avg_after": os.getloadavg(),
                "secs": round(time.time() - started, 1),
            },
            "machine": machine(),
            "summary": summary,
            "rows": rows,
        },
    )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
