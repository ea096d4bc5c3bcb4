"""Smart-turn's "not yet" with a second opinion from the words: what it saves and costs.

Smart-turn calls 13-29 % of recorded real turn ends incomplete (``vad_stop_smart_turn.py``),
and each waits for the 2 s fallback: the offline bot's p95. ``SmartTurn(text_check=...)``
asks the LLM (``voicebot.providers.local.turn_text``) at such a stop whether the words so
far end a sentence; at or above ``threshold`` the turn ends after ``wait_secs`` more quiet.

Per clip (offline_stt's or the Asterisk subfolders', as ``vad_stop_smart_turn.py``: Silero
at its 0.2 s stop, 20 ms chunks, smart-turn at every stop on the turn so far), each stop
records smart-turn's verdict, Whisper base's transcript of the turn so far (one piece: the
bot transcribes each VAD piece, so this is slightly kinder), the scorer's probability on it,
and how long the quiet after the stop lasted. Each (threshold, wait) is then scored:

- **cut-offs**: clips ended at a stop before their last (smart-turn "complete", or the text
  check passing with more quiet after the stop than the wait);
- **fallback waits**: real ends (the last stop) where the turn still waits for the fallback;
- **mean added delay** at real ends (0 for "complete", the wait, or the 2 s fallback).

``--spliced`` scores the same on ``turn_fallback``'s spliced mid-sentence pauses (0.3-1.5 s)
from its saved transcripts and smart-turn probabilities. Which sets were tuned on is in
docs/offline.md ("The words' opinion on the turn's end").

    python -m benchmarks.turn_text_check --set offline_stt
    python -m benchmarks.turn_text_check --set subfolders
    python -m benchmarks.turn_text_check --spliced
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.serve_host import git_commit  # noqa: E402
from benchmarks.vad_stop_smart_turn import (  # noqa: E402
    CHUNK,
    PRE_SPEECH,
    RATE,
    chosen_clips,
    padded_clips,
)

THRESHOLDS = (0.05, 0.08, 0.1, 0.12, 0.15, 0.2, 0.3)
WAITS = (0.2, 0.3, 0.5, 0.8)
FALLBACK = 2.0


async def stops_of(audio: np.ndarray, turn: Any, transcribe: Any, score: Any) -> list[dict]:
    """Every VAD stop of one clip: smart-turn's verdict, the words so far, their score, and
    the quiet after the stop (None: no more speech)."""
    from pipecat.audio.turn.base_turn_analyzer import EndOfTurnState
    from pipecat.audio.vad.vad_analyzer import VADState

    from voicebot.providers.base import BuildContext
    from voicebot.providers.silero import SileroVAD

    vad = SileroVAD().build(BuildContext(audio_in_sample_rate=RATE))
    vad.set_sample_rate(RATE)
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2")
    speaking = False
    turn_from: int | None = None
    flags: list[bool] = []
    stops: list[dict[str, Any]] = []
    try:
        for n, i in enumerate(range(0, len(pcm) - CHUNK + 1, CHUNK)):
            state = await vad.analyze_audio(pcm[i : i + CHUNK].tobytes())
            flags.append(state in (VADState.SPEAKING, VADState.STOPPING))
            at = (n + 1) * CHUNK / RATE
            if state == VADState.SPEAKING and not speaking and stops:
                last = stops[-1]
                if last["quiet_after_secs"] is None:
                    last["quiet_after_secs"] = round(at - last["at_secs"], 2)
            if state == VADState.SPEAKING and turn_from is None:
                back = PRE_SPEECH + vad.params.start_secs
                turn_from = max(0, n - int(back * RATE / CHUNK))
            if state == VADState.QUIET and speaking and turn_from is not None:
                turn.clear()
                for k in range(turn_from, n + 1):
                    turn.append_audio(pcm[k * CHUNK : (k + 1) * CHUNK].tobytes(), flags[k])
                result, metrics = await turn.analyze_end_of_turn()
                words = transcribe(audio[turn_from * CHUNK : (n + 1) * CHUNK])
                started = time.perf_counter()
                p = score(words)
                stops.append(
                    {
                        "at_secs": round(at, 2),
                        "complete": result == EndOfTurnState.COMPLETE,
                        "probability": round(float(getattr(metrics, "probability", -1.0)), 4),
                        "words": words,
                        "text_p": None if p is None else round(p, 4),
                        "text_ms": round((time.perf_counter() - started) * 1000, 1),
                        "quiet_after_secs": None,
                    }
                )
                if result == EndOfTurnState.COMPLETE:
                    turn_from = None
            speaking = state == VADState.SPEAKING or (speaking and state != VADState.QUIET)
    finally:
        await vad.cleanup()
    return stops


def passes(stop: dict[str, Any], threshold: float | None) -> bool:
    return threshold is not None and stop["text_p"] is not None and stop["text_p"] >= threshold


def score_clips(rows: list[dict[str, Any]], threshold: float | None, wait: float) -> dict:
    """Cut-offs, fallback waits and the mean added delay at real ends (None: smart-turn
    alone)."""
    cut = late = 0
    delays: list[float] = []
    judged = [r for r in rows if r["stops"]]
    for r in judged:
        *inner, last = r["stops"]
        ended = False
        for s in inner:
            quiet = s["quiet_after_secs"] or 0.0
            if s["complete"] or (passes(s, threshold) and quiet > wait):
                ended = True
                break
        if ended:
            cut += 1
            continue
        if last["complete"]:
            delays.append(0.0)
        elif passes(last, threshold):
            delays.append(wait)
        else:
            late += 1
            delays.append(FALLBACK)
    n = len(judged)
    return {
        "clips": n,
        "cut_off_pct": round(100 * cut / n, 1),
        "fallback_waits_pct": round(100 * late / n, 1),
        "mean_added_delay_secs": round(sum(delays) / max(1, len(delays)), 3),
    }


def score_spliced(rows: list[dict[str, Any]], threshold: float | None, wait: float) -> dict:
    """turn_fallback's spliced pauses: a pause is cut off when smart-turn says complete or
    the check passes and the quiet after Silero's stop outlasts the wait."""
    cut = total = late = 0
    for r in rows:
        for pause in r["pauses"]:
            stop_after = pause["silero_stop_after_secs"]
            if stop_after is None:
                continue  # Silero never stopped in this pause: nothing to judge
            total += 1
            quiet = pause["pause_secs"] - stop_after
            if r["at_pause"]["smart_turn"]["complete"] or (
                passes(r["pause_text_p"], threshold) and quiet > wait
            ):
                cut += 1
        if not r["at_end"]["smart_turn"]["complete"] and not passes(r["end_text_p"], threshold):
            late += 1
    return {
        "pauses": total,
        "cut_off_pct": round(100 * cut / max(1, total), 1),
        "sentences": len(rows),
        "fallback_waits_pct": round(100 * late / max(1, len(rows)), 1),
    }


def qa_pairs(path: Path, score: Any, threshold: float) -> dict[str, Any]:
    """Text only: a bot's question, a finished answer and an unfinished one per item, each
    scored without and with the question before it (``after=``)."""
    items = json.loads(path.read_text())
    rows = []
    for item in items:
        row = dict(item)
        for context in ("alone", "after_question"):
            after = item["bot"] if context == "after_question" else None
            row[context] = {
                "complete_p": score(item["complete"], after),
                "incomplete_p": score(item["incomplete"], after),
            }
        rows.append(row)
    summary: dict[str, Any] = {"items": len(rows), "threshold": threshold}
    print(f"| words judged | finished answers passing | unfinished passing | AUC | ({len(rows)})")
    print("|---|---|---|---|")
    for context in ("alone", "after_question"):
        done = [r[context]["complete_p"] or 0.0 for r in rows]
        cut = [r[context]["incomplete_p"] or 0.0 for r in rows]
        auc = sum((d > c) + 0.5 * (d == c) for d in done for c in cut) / (len(done) * len(cut))
        summary[context] = {
            "complete_pass_pct": round(100 * sum(p >= threshold for p in done) / len(rows), 1),
            "incomplete_pass_pct": round(100 * sum(p >= threshold for p in cut) / len(rows), 1),
            "auc": round(auc, 3),
        }
        got = summary[context]
        print(
            f"| {context} | {got['complete_pass_pct']} % | {got['incomplete_pass_pct']} % "
            f"| {got['auc']} |"
        )
    return {"summary": summary, "rows": rows}


def table(score: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = [{"threshold": None, "wait_secs": None, **score(rows, None, 0.0)}]
    for t in THRESHOLDS:
        for w in WAITS:
            out.append({"threshold": t, "wait_secs": w, **score(rows, t, w)})
    keys = [k for k in out[0] if k not in ("threshold", "wait_secs")]
    print("| threshold | wait | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 2) + "|")
    for row in out:
        name = "smart-turn alone" if row["threshold"] is None else row["threshold"]
        cells = " | ".join(str(row[k]) for k in keys)
        print(f"| {name} | {row['wait_secs'] or ''} | {cells} |")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="offline_stt", choices=["offline_stt", "subfolders"])
    parser.add_argument("--spliced", action="store_true")
    parser.add_argument("--qa", type=Path, default=None, help="bot question/answer pairs JSON")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--name", default=None)
    args = parser.parse_args()

    from voicebot.bot import DEFAULT_SYSTEM_PROMPT
    from voicebot.providers.local.llama import LlamaLLM
    from voicebot.providers.local.turn_text import SentenceEndScorer

    llm = LlamaLLM()
    loaded = llm.loaded()
    scorer = SentenceEndScorer(loaded.llama)

    def score(text: str, after: str | None = None) -> float | None:
        return loaded.evaluate(
            lambda: scorer.probability(text, system_prompt=DEFAULT_SYSTEM_PROMPT, after=after)
        )

    load_before = os.getloadavg()
    started = time.time()
    if args.qa is not None:
        from voicebot.providers.turn import TextCheck

        qa = qa_pairs(args.qa, score, TextCheck().threshold)
        out = ROOT / "benchmarks" / "results" / f"{args.name or 'turn_text_check_qa'}.json"
        qa["command"] = "python -m benchmarks.turn_text_check " + " ".join(sys.argv[1:])
        qa["llm"] = llm.describe()
        qa["git"] = git_commit()
        qa["file_sha256"] = hashlib.sha256(args.qa.read_bytes()).hexdigest()
        out.write_text(json.dumps(qa, indent=1))
        print(f"wrote {out}")
        return
    if args.spliced:
        saved = json.loads((ROOT / "benchmarks/results/turn_fallback.json").read_text())
        rows = []
        for name, sentences in saved["rows"].items():
            for r in sentences:
                if not r.get("at_pause"):
                    continue
                r = dict(r, set=name)
                r["pause_text_p"] = {"text_p": score(r["at_pause"]["punct"]["text"])}
                r["end_text_p"] = {"text_p": score(r["at_end"]["punct"]["text"])}
                rows.append(r)
        results = table(score_spliced, rows)
        which = "turn_fallback spliced pauses (its saved transcripts and smart-turn verdicts)"
        name = args.name or "turn_text_check_spliced"
    else:
        from benchmarks.offline_stt import ASTERISK_TEXT, SPHINX

        if not (SPHINX / "librivox").is_dir() or not ASTERISK_TEXT.is_file():
            raise SystemExit(
                "needs Debian's data: apt-get install -y pocketsphinx-testdata "
                "asterisk-core-sounds-en-wav asterisk-core-sounds-en"
            )
        from pipecat.audio.turn.smart_turn.base_smart_turn import SmartTurnParams
        from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3

        from voicebot.providers.local.whisper import WhisperSTT

        transcriber = WhisperSTT(model="base").transcriber()
        turn = LocalSmartTurnAnalyzerV3(params=SmartTurnParams(stop_secs=FALLBACK), cpu_count=1)
        turn.set_sample_rate(RATE)
        rows = []
        clips = chosen_clips(args.set, args.limit)
        for count, clip, audio in padded_clips(clips):
            stops = asyncio.run(
                stops_of(audio, turn, lambda a: transcriber.transcribe(a).text, score)
            )
            rows.append({"clip": clip.name, "set": clip.set, "ref": clip.text, "stops": stops})
            if count % 50 == 0:
                print(f"  {count}/{len(clips)} clips, {time.time() - started:.0f} s", flush=True)
        results = table(score_clips, rows)
        which = f"{args.set} clips, Silero stop 0.2 s, smart-turn v3 at each stop"
        name = args.name or f"turn_text_check_{args.set}"
    ms = sorted(
        s["text_ms"] for r in rows for s in r.get("stops", []) if s.get("text_p") is not None
    )
    out = ROOT / "benchmarks" / "results" / f"{name}.json"
    out.write_text(
        json.dumps(
            {
                "command": "python -m benchmarks.turn_text_check " + " ".join(sys.argv[1:]),
                "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "git": git_commit(),
                "what": which,
                "config": {
                    "scorer": "voicebot.providers.local.turn_text.SentenceEndScorer",
                    "llm": llm.describe(),
                    "system_prompt": "voicebot.bot.DEFAULT_SYSTEM_PROMPT",
                    "stt": "Whisper base (WhisperSTT(model='base').transcriber()), turn so far",
                    "smart_turn": "LocalSmartTurnAnalyzerV3 as Pipecat builds it, threshold 0.5",
                    "fallback_secs": FALLBACK,
                    "thresholds": THRESHOLDS,
                    "waits": WAITS,
                },
                "machine": {
                    "cpus": os.cpu_count(),
                    "processor": platform.processor() or platform.machine(),
                    "load_avg_before": load_before,
                    "load_avg_after": os.getloadavg(),
                },
                "wall_secs": round(time.time() - started, 1),
                "text_check_ms_p50": ms[len(ms) // 2] if ms else None,
                "text_check_ms_p95": ms[int(len(ms) * 0.95)] if ms else None,
                "results": results,
                "rows": rows,
            },
            indent=1,
        )
    )
    print(f"text check p50 {ms[len(ms) // 2] if ms else '-'} ms; wrote {out}")


if __name__ == "__main__":
    main()
