"""A shorter VAD stop under smart-turn: what 0.2 s -> 0.1-0.15 s would cost in cut-offs.

Every offline turn waits for Silero's ``stop_secs`` (0.2 s) of quiet before anything else
can end it: the largest fixed stage left (docs/offline.md, "Why we are still far from 500
ms"). Smart-turn decides at each VAD stop whether the turn is over, so a shorter stop only
moves that question earlier, but it asks it at more of the short pauses inside a sentence,
and with less trailing quiet for the model to hear.

On offline_stt's clips (5 LibriVox sentences, 5 card names, ~340 telephone prompts; each one
utterance, 0.5 s of silence before and 1 s after), for each ``--stops`` value: Silero
(voicebot's ``SileroVAD(stop_secs=...)``, 20 ms chunks) runs over the clip; at every VAD
stop, Pipecat's local smart-turn v3 hears the turn so far as the pipeline gives it (0.5 s
before the turn's first onset, i.e. 0.5 s plus the VAD's start wait before it reported
speech, up to the stop, 20 ms chunks with the VAD's speech flag) and
says complete or not; a "complete" ends the turn there (the buffer starts again). Scored:

- **cut-offs**: clips whose turn was ended at a stop before the last one (the caller had
  more to say; for a prompt of two sentences this is arguably right, at every setting
  alike);
- **real ends judged incomplete**: the last stop's "not yet" in a clip not cut off before
  it, where ``SmartTurn`` waits for its fallback (``max_silence_secs``, 2 s);
- stops per clip and smart-turn's time per call.

Expected (written before the first run, session 12): from 0.2 to 0.12 s, about twice the
stops inside utterances, cut-offs up 5-15 points of clips, real ends judged incomplete up
5-15 points (less quiet at the end for the model): a 0.08 s gain at most ends against a 2 s
wait at more of them. Not worth it unless both rates stay within a point or two.

Also scored from the same runs: smart-turn's threshold (Pipecat says complete above 0.5)
lowered to 0.4-0.1. Expected (written before that run): at 0.3, real ends judged incomplete
14 -> 8-10 %, cut-offs 10.6 -> 12-14 %. A threshold is chosen on offline_stt's clips and
checked on a fresh set, ``--set subfolders`` (Asterisk's digits, letters, dictation and
follow-me prompts).

    python benchmarks/vad_stop_smart_turn.py                  # --stops 0.2,0.15,0.12,0.1
    python benchmarks/vad_stop_smart_turn.py --limit 40
    python benchmarks/vad_stop_smart_turn.py --spliced        # turn_fallback's pauses
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.offline_stt import MAX_SECS, load, sphinx_clips, telephone_clips  # noqa: E402

RATE = 16000
CHUNK = 320  # 20 ms
PRE_SPEECH = 0.5  # smart-turn's window before the onset
#: Smart-turn thresholds scored from each run (at or under 0.5, see ``main``).
THRESHOLDS = (0.5, 0.4, 0.3, 0.2, 0.1)


def chosen_clips(which: str, limit: int | None) -> list[Any]:
    """offline_stt's clips (``offline_stt``) or the fresh Asterisk subfolder prompts."""
    if which == "offline_stt":
        every = sphinx_clips() + telephone_clips()
    else:
        from benchmarks.early_transcripts import subfolder_clips

        every = subfolder_clips()
    return every[:limit]


def padded_clips(clips: list[Any]) -> Iterator[tuple[int, Any, np.ndarray]]:
    """(index, clip, audio): each clip up to ``MAX_SECS`` with 0.5 s of silence before and
    1 s after (float32, 16 kHz)."""
    for count, clip in enumerate(clips):
        audio, _ = load(clip)
        if len(audio) > MAX_SECS * RATE:
            continue
        silence = [np.zeros(RATE // 2, np.float32), np.zeros(RATE, np.float32)]
        yield count, clip, np.concatenate([silence[0], audio, silence[1]])


async def judge(audio: np.ndarray, stop_secs: float, turn: Any) -> dict[str, Any]:
    """One clip under one VAD stop: every stop, and what smart-turn said at each."""
    from pipecat.audio.turn.base_turn_analyzer import EndOfTurnState
    from pipecat.audio.vad.vad_analyzer import VADState

    from voicebot.providers.base import BuildContext
    from voicebot.providers.silero import SileroVAD

    vad = SileroVAD(stop_secs=stop_secs).build(BuildContext(audio_in_sample_rate=RATE))
    vad.set_sample_rate(RATE)
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2")
    speaking = False
    turn_from: int | None = None  # chunk index where this turn's buffer starts
    flags: list[bool] = []  # the VAD's speech flag per chunk
    stops: list[dict[str, Any]] = []
    try:
        for n, i in enumerate(range(0, len(pcm) - CHUNK + 1, CHUNK)):
            state = await vad.analyze_audio(pcm[i : i + CHUNK].tobytes())
            flags.append(state in (VADState.SPEAKING, VADState.STOPPING))
            if state == VADState.SPEAKING and turn_from is None:
                # The VAD reports speech start_secs after its onset; smart-turn keeps
                # PRE_SPEECH before the onset (Pipecat 1.14's BaseSmartTurn).
                back = PRE_SPEECH + vad.params.start_secs
                turn_from = max(0, n - int(back * RATE / CHUNK))
            if state == VADState.QUIET and speaking and turn_from is not None:
                turn.clear()
                for k in range(turn_from, n + 1):
                    turn.append_audio(pcm[k * CHUNK : (k + 1) * CHUNK].tobytes(), flags[k])
                started = time.perf_counter()
                result, metrics = await turn.analyze_end_of_turn()
                complete = result == EndOfTurnState.COMPLETE
                stops.append(
                    {
                        "at_secs": round((n + 1) * CHUNK / RATE, 2),
                        "complete": complete,
                        "probability": round(float(getattr(metrics, "probability", -1.0)), 4),
                        "ms": round((time.perf_counter() - started) * 1000, 1),
                    }
                )
                if complete:
                    turn_from = None  # the turn ended; the next speech starts a new one
            speaking = state == VADState.SPEAKING or (speaking and state != VADState.QUIET)
    finally:
        await vad.cleanup()
    return {
        "stops": stops,
        "cut_off": any(s["complete"] for s in stops[:-1]),
        # The real end waited for the fallback (counted where the turn was not cut off
        # before it, as the threshold table in ``main`` can count it exactly).
        "end_incomplete": bool(stops)
        and not stops[-1]["complete"]
        and not any(s["complete"] for s in stops[:-1]),
    }


def spliced_pauses() -> None:
    """The thresholds on ``benchmarks.turn_fallback``'s spliced mid-sentence pauses, from
    the smart-turn probabilities its results file recorded (no model run)."""
    saved = json.loads((ROOT / "benchmarks" / "results" / "turn_fallback.json").read_text())
    print("| set | sentences | threshold | pauses judged complete | real ends judged incomplete |")
    print("|---|---|---|---|---|")
    for name, rows in saved["rows"].items():
        judged = [r for r in rows if r.get("at_pause")]
        for t in THRESHOLDS:
            cut = sum(r["at_pause"]["smart_turn"]["probability"] > t for r in judged)
            late = sum(r["at_end"]["smart_turn"]["probability"] <= t for r in judged)
            print(
                f"| {name} | {len(judged)} | {t} | {round(100 * cut / len(judged))} % | "
                f"{round(100 * late / len(judged))} % |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stops", default="0.2,0.15,0.12,0.1")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--name", default="vad_stop_smart_turn")
    parser.add_argument(
        "--set",
        default="offline_stt",
        choices=["offline_stt", "subfolders"],
        help="offline_stt's 348 clips, or the fresh Asterisk subfolder prompts",
    )
    parser.add_argument(
        "--spliced",
        action="store_true",
        help="only rescore turn_fallback.json's spliced pauses for the thresholds",
    )
    args = parser.parse_args()
    if args.spliced:
        spliced_pauses()
        return
    settings = [float(x) for x in args.stops.split(",")]

    from pipecat.audio.turn.smart_turn.base_smart_turn import SmartTurnParams
    from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3

    from voicebot.providers.turn import SmartTurn

    fallback = SmartTurn().max_silence_secs
    turn = LocalSmartTurnAnalyzerV3(params=SmartTurnParams(stop_secs=fallback), cpu_count=1)
    turn.set_sample_rate(RATE)
    load_before = os.getloadavg()
    rows: list[dict[str, Any]] = []
    started = time.time()
    clips = chosen_clips(args.set, args.limit)
    for count, clip, padded in padded_clips(clips):
        row: dict[str, Any] = {"clip": clip.name, "set": clip.set}
        for stop in settings:
            row[str(stop)] = asyncio.run(judge(padded, stop, turn))
        rows.append(row)
        if count % 50 == 0:
            print(f"  {count}/{len(clips)} clips, {time.time() - started:.0f} s", flush=True)

    summary: dict[str, Any] = {}
    for stop in settings:
        judged = [r[str(stop)] for r in rows if r[str(stop)]["stops"]]
        calls = [s["ms"] for j in judged for s in j["stops"]]
        summary[str(stop)] = {
            "clips": len(judged),
            "stops_per_clip": round(sum(len(j["stops"]) for j in judged) / len(judged), 2),
            "cut_off_pct": round(100 * sum(j["cut_off"] for j in judged) / len(judged), 1),
            "end_incomplete_pct": round(
                100 * sum(j["end_incomplete"] for j in judged) / len(judged), 1
            ),
            "smart_turn_ms_p50": round(statistics.median(calls), 1),
        }
    # Smart-turn says complete above 0.5. A lower threshold is scored exactly from the same
    # run: a clip whose every stop stayed at or under 0.5 had the same buffers whatever the
    # threshold down to the first stop above it, where the turn ends.
    thresholds: dict[str, Any] = {}
    for stop in settings:
        judged = [r[str(stop)] for r in rows if r[str(stop)]["stops"]]
        table: dict[str, Any] = {}
        for t in THRESHOLDS:
            cut = [any(s["probability"] > t for s in j["stops"][:-1]) for j in judged]
            late = [
                not c and j["stops"][-1]["probability"] <= t
                for c, j in zip(cut, judged, strict=True)
            ]
            table[str(t)] = {
                "cut_off_pct": round(100 * sum(cut) / len(judged), 1),
                "end_incomplete_pct": round(100 * sum(late) / len(judged), 1),
            }
        thresholds[str(stop)] = table
    command = " ".join(["python benchmarks/vad_stop_smart_turn.py", *sys.argv[1:]])
    print(f"\n{command}\n")
    print(
        "| VAD stop | clips | VAD stops per clip | cut-offs (clips) | real ends judged "
        "incomplete (wait 2 s) | smart-turn p50 |"
    )
    print("|---|---|---|---|---|---|")
    for stop, s in summary.items():
        print(
            f"| {stop} s | {s['clips']} | {s['stops_per_clip']} | {s['cut_off_pct']} % | "
            f"{s['end_incomplete_pct']} % | {s['smart_turn_ms_p50']} ms |"
        )
    for stop, table in thresholds.items():
        print(f"\nVAD stop {stop} s, smart-turn's threshold (0.5: Pipecat's):\n")
        print("| threshold | cut-offs (clips) | real ends judged incomplete |")
        print("|---|---|---|")
        for t, v in table.items():
            print(f"| {t} | {v['cut_off_pct']} % | {v['end_incomplete_pct']} % |")
    out = ROOT / "benchmarks" / "results" / f"{args.name}.json"
    out.write_text(
        json.dumps(
            {
                "command": command,
                "config": {
                    "vad": "voicebot SileroVAD (Pipecat's Silero), 20 ms chunks",
                    "stop_secs": settings,
                    "turn": f"Pipecat LocalSmartTurnAnalyzerV3, 1 thread, fallback {fallback} s",
                    "pre_speech_secs": PRE_SPEECH,
                    "machine": platform.machine(),
                    "cpus": os.cpu_count(),
                    "load_avg_before": load_before,
                    "load_avg_after": os.getloadavg(),
                },
                "set": args.set,
                "summary": summary,
                "thresholds": thresholds,
                "rows": rows,
            },
            indent=1,
        )
        + "\n"
    )
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
