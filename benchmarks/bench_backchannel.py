"""Barge-in and backchannels: does speech over the bot stop it fast, and do "mhm"s and
coughs leave its reply alone? (issue #14, item 4; ``voicebot.conversation.barge_in``)

Each cycle: the caller asks, the bot starts a ~3 s reply, and ~0.7 s into it the caller makes
one sound over it: a backchannel ("Mm-hmm.", "Okay, got it."), a noise (a click, a cough),
or a barge-in ("Stop.", "Wait, what about Sunday?"). Read off the output file (same timeline
as the caller's): **stop** = caller onset → the bot's audio stops (first 30 ms of silence);
**resumed** = the cycle's reply audio adds up to the whole reply (within 0.1 s), i.e. it
spoke on after the pause; **gap** = how long it was silent before speaking on.
A backchannel or noise that does not resume is a *false stop*; a barge-in that resumes is a
*missed barge-in*.

Two sets:
- ``scripted``: synthetic caller (energy-VAD speech, 60 ms start), scripted transcripts
  (fake STT, 50 ms), fake LLM and tone TTS. Contenders: voicebot (default ``BargeIn``),
  voicebot with ``barge_in=None``, and stock Pipecat (a pipeline written with Pipecat alone,
  its default turn start).
- ``recorded`` (``--recorded``): real audio through Silero VAD and the offline Whisper
  (tiny.en): backchannels spoken by the Piper voice (synthetic speech, not a person), a click
  and a cough made of shaped noise, and barge-ins read from Asterisk's recorded prompts
  (Debian ``asterisk-core-sounds-en-wav``; a person's voice). Contenders: voicebot default
  (``BargeIn(pause_at="first_sound")``, Silero ``start_secs`` 0.2), voicebot pausing at the
  VAD's call (``pause_at="speech"``, the default before 2026-12-03) with Silero 0.2 and with
  ``start_secs`` 0.064 (two of its 32 ms windows), and voicebot with ``barge_in=None`` and
  Silero 0.2 (Pipecat's default turn start).
- ``fresh`` (``--fresh``): barge-ins only, 16 more Asterisk prompts drawn by a fixed seed
  (``FRESH_SEED``) from those the other sets and the design measurement did not use; the two
  pause points, Silero 0.2. Drawn and run once, after the choice of the default.

- ``fresh2`` (``--fresh2``): ``FRESH2_BACKCHANNELS`` (14 other backchannels, two outside the
  default vocabulary), the click and the cough, and 12 more Asterisk barge-ins
  (``FRESH2_SEED``); written 2026-12-03 before its one run, to measure the STT hint
  (``BargeIn.hint_stt``) on backchannels it was not found on.
- ``--hint-pair``: on a recorded set, the default with and without ``BargeIn.hint_stt``.
- ``--set fresh3`` / ``--set fresh4`` (session 19, ``benchmarks/backchannel_written_sets.py``):
  18 backchannels and 10 short interruptions written by helpers who saw nothing of the
  bot, spoken by the Piper voice, the click and the cough, and 6 more Asterisk barge-ins;
  fresh3 was read before the vocabulary change (tuning), fresh4 not (held out).
- ``--set fresh5 --rise-pair``: 16 more Asterisk barge-ins, with and without the first
  sound's rise rule (``BargeIn.first_sound_rise_db`` 15 dB, the default since 95a539d; the
  run at b42baaa named its contenders "score alone" and "or a 15 dB rise").
  ``--policy-pair --rise-pair``: the default and both others in one run.
- ``--policy-pair``: the default against the policy before session 19 (``BACKCHANNELS_BEFORE``,
  ``min_interrupt_secs`` 0.6 s), both pausing at the first sound.

``pause_at="first_sound"`` was designed from one measurement (40 other Asterisk prompts,
seed 1, Silero alone: the first chunk with confidence >= 0.7 came p50 46 ms after the onset,
the VAD's call 237 ms), expected to take ~190 ms off the stop's p50 against
``pause_at="speech"``, leave false stops and missed barge-ins as they were, and lengthen
a backchannel's gap by about as much (the pause starts earlier, the ruling comes as late).

Expected before measuring: stop ≈ VAD start + up to one 40 ms output chunk (+~2 ms) for
every contender (the pause is as fast as an interruption); false stops 0 for voicebot's
policy, all of them for the others; gap ≈ sound length + VAD stop (0.2 s) + transcript wait
or STT time. The sets and the default vocabulary were written before the first run; nothing
was tuned on them.

``python -m benchmarks.bench_backchannel [--recorded]``; writes
``benchmarks/results/backchannel[_recorded].json`` with the full configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.backchannel_sets import (
    RECORDED,
    SCRIPTED,
    SOUNDS,
    Event,
    fresh2_events,
    fresh_events,
    recorded,
    synthetic,
    written_events,
)
from benchmarks.common import (
    IN_RATE,
    OUT_RATE,
    Script,
    Vendors,
    build_ours,
    build_stock,
    dist,
    ms,
    read_samples,
    run_all,
    save,
    setup,
    table,
)
from voicebot.testing import FakeLLM as FakeLLMBase

REPLY = (
    "We open at nine on weekdays and at ten on Saturdays, and on Sundays we stay closed all day."
)
SECS_PER_CHAR = 0.03
REPLY_SECS = len(REPLY) * SECS_PER_CHAR
CYCLE_SECS = 10.0
QUESTION_SECS = 0.5
EVENT_AFTER_REPLY_SECS = 0.7  # into the reply (its start read off the output file)
SILENT_RUN_SECS = 0.03


#: The default vocabulary before session 19, and the policy it made (``--policy-pair``).
BACKCHANNELS_BEFORE = (
    "mhm", "mmhmm", "mm", "mmm", "hmm", "hm", "uhhuh", "uh", "um", "ah", "oh", "aha",
    "yeah", "yea", "yes", "yep", "yup", "ok", "okay", "right", "sure", "alright",
    "all right", "i see", "got it", "cool", "great", "nice", "wow", "true", "exactly",
    "thanks", "thank you", "uh huh", "oh okay", "okay okay", "yeah yeah", "right right",
)  # fmt: skip
POLICY_BEFORE: dict[str, Any] = {"backchannels": BACKCHANNELS_BEFORE, "min_interrupt_secs": 0.6}


# ---- the caller's audio -----------------------------------------------------------------


def question(recorded_set: bool) -> np.ndarray:
    if recorded_set:
        from voicebot.audio import read_wav

        x = read_wav(SOUNDS / "hello-world.wav", IN_RATE).samples.astype(np.float32) / 32768
        return x / max(1e-3, float(np.max(np.abs(x)))) * 0.6
    return synthetic(QUESTION_SECS)


def caller_wav(path: Path, clips: list[np.ndarray], q: np.ndarray) -> list[float]:
    """One cycle per clip: the question at 0.5 s, the clip at ``event_at``; returns each
    cycle's start. The clip's time is placed by a guess of the reply start, corrected
    afterwards from the output file (events that missed the reply are reported)."""
    from voicebot.audio import Pcm, write_wav

    total = np.zeros(int(CYCLE_SECS * len(clips) * IN_RATE + IN_RATE), dtype=np.float32)
    starts = []
    for i, clip in enumerate(clips):
        t0 = i * CYCLE_SECS
        starts.append(t0)
        a = int((t0 + 0.5) * IN_RATE)
        total[a : a + q.size] += q
        e = int((t0 + 0.5 + q.size / IN_RATE + 0.75 + EVENT_AFTER_REPLY_SECS) * IN_RATE)
        total[e : e + clip.size] += clip
    write_wav(path, Pcm((np.clip(total, -1, 1) * 32767).astype(np.int16), IN_RATE))
    return starts


# ---- reading the output -----------------------------------------------------------------


def onsets(caller: np.ndarray, starts: list[float]) -> list[tuple[float, float]]:
    """(onset, end) of the second sound of each cycle (the event), from the caller's file."""
    from voicebot.audio import Pcm
    from voicebot.audio.segments import speech_segments

    out = []
    for t0 in starts:
        a, b = int(t0 * IN_RATE), int((t0 + CYCLE_SECS) * IN_RATE)
        segs = speech_segments(
            Pcm(caller[a:b], IN_RATE), window_secs=0.005, min_gap_secs=0.3, min_speech_secs=0.005
        )
        s = segs[1]
        out.append((t0 + s.start, t0 + s.end))
    return out


def judge(out: np.ndarray, rate: int, t0: float, onset: float) -> dict[str, Any]:
    """Read one cycle off the output file: was the bot speaking at the onset, when did it
    stop, did its reply play to the end (resumed), and how long was it quiet before."""
    loud = np.abs(out[int(t0 * rate) : int((t0 + CYCLE_SECS) * rate)]) > 0
    idx = np.flatnonzero(loud)
    if idx.size == 0:
        return {"speaking": False}
    at = int((onset - t0) * rate)
    if not loud[max(0, at - int(0.05 * rate)) : at].any():
        return {"speaking": False}
    quiet = np.flatnonzero(~loud[at:])
    runs = np.split(quiet, np.flatnonzero(np.diff(quiet) != 1) + 1) if quiet.size else []
    run = next((r for r in runs if r.size >= SILENT_RUN_SECS * rate), None)
    if run is not None and not loud[at + run[-1] + 1 :].any():
        run = None  # the silence after the onset is the reply's end: it never stopped
    # All the bot's audio in the cycle: the whole reply if it spoke on, the part before the
    # stop plus the short answer to the interruption ("Okay.") if it was cut.
    # A barge-in whose new turn the fake LLM answers with the whole reply again (its
    # words held "world", as "Hello." did) plays more than one reply: that is a stop.
    played = float(np.count_nonzero(loud)) / rate
    resumed = REPLY_SECS - 0.1 <= played <= REPLY_SECS + 0.3
    gap = None
    if resumed and run is not None:
        gap = run.size / rate
    return {
        "speaking": True,
        "stop_secs": run[0] / rate if run is not None else None,  # None: never stopped
        "resumed": bool(resumed),
        "gap_secs": gap,
        "played_secs": played,
    }


# ---- contenders ---------------------------------------------------------------------------


def script_for(events: list[Event], interrupts: bool) -> Script:
    transcripts, replies = [], []
    for e in events:
        transcripts += ["When are you open?", e.text]
        replies += [REPLY] + (["Okay."] if e.kind == "barge_in" or interrupts else [])
    return Script(transcripts, replies)


class AnswersTheQuestion(FakeLLMBase):  # type: ignore[misc, valid-type]
    """The fake LLM, answering the question ("hello world") with ``REPLY`` and anything
    else with "Okay.", however many requests the contender makes."""

    def build(self, ctx: Any) -> Any:
        from voicebot.testing.fake_llm import ScriptedLLMService

        class ByQuestion(ScriptedLLMService):  # type: ignore[misc]
            def _next_reply(self, context: Any) -> Any:
                users = [m for m in context.get_messages() if m.get("role") == "user"]
                last = str(users[-1].get("content", "")) if users else ""
                return REPLY if "world" in last.lower() else "Okay."

        return ByQuestion([], ttft_secs=self.ttft_secs, system_instruction=ctx.system_prompt)


def ours_recorded(
    caller: Path,
    out: Path,
    *,
    start_secs: float,
    barge_in: str | None,
    chunk_secs: float = 0.04,
    hint: bool = True,
    confidence: float | None = 0.5,
    policy: dict[str, Any] | None = None,
    rise_db: float | None = 15.0,
) -> Any:
    from voicebot import BargeIn, Bot, SilenceTurn, SileroVAD, WavFile, WhisperSTT
    from voicebot.testing import FakeTTS

    bot = Bot(
        stt=WhisperSTT(),
        llm=AnswersTheQuestion(ttft_secs=0.1),
        tts=FakeTTS(ttfb_secs=0.05, secs_per_char=SECS_PER_CHAR),
        vad=SileroVAD(start_secs=start_secs),
        turn=SilenceTurn(silence_secs=0.3),
        sample_rate_in=IN_RATE,
        sample_rate_out=OUT_RATE,
        idle_timeout_secs=None,
        barge_in=BargeIn(
            pause_at=barge_in,
            hint_stt=BargeIn().hint_stt if hint else None,
            first_sound_confidence=confidence,
            first_sound_rise_db=rise_db,
            **(policy or {}),
        )
        if barge_in
        else None,
    )
    bot.prepare()
    wav = WavFile(input=caller, output=out, linger_secs=1.0, output_chunk_secs=chunk_secs)
    return bot.session(transport=wav, env={})


async def run_set(
    recorded_set: bool,
    work: Path,
    fresh: bool = False,
    chunk_secs: float = 0.04,
    pair: bool = False,
    *,
    fresh2: bool = False,
    hint_pair: bool = False,
    confidence_pair: bool = False,
    written: str | None = None,
    policy_pair: bool = False,
    rise_pair: bool = False,
) -> dict[str, Any]:
    rng = np.random.default_rng(7)
    events = (fresh_events() if fresh else RECORDED) if recorded_set else SCRIPTED
    events = fresh2_events() if fresh2 else events
    events = written_events(written) if written else events
    if recorded_set:
        from voicebot.providers.local.piper import PiperTTS

        piper = PiperTTS().voice()
        clips = [recorded(e, rng, piper) for e in events]
    else:
        clips = [synthetic(e.secs) for e in events]
    caller = work / "caller.wav"
    starts = caller_wav(caller, clips, question(recorded_set))
    caller_samples, _ = read_samples(caller)
    marks = onsets(caller_samples.astype(np.float32), starts)

    v = Vendors(stt_secs=0.05, ttft_secs=0.1, ttfb_secs=0.05, secs_per_char=SECS_PER_CHAR)
    runs: dict[str, Any] = {}
    if recorded_set:
        contenders = {
            "voicebot (BargeIn, pause at first sound), Silero start 0.2 s": dict(
                start_secs=0.2, barge_in="first_sound"
            ),
            "voicebot (BargeIn, pause at speech), Silero start 0.2 s": dict(
                start_secs=0.2, barge_in="speech"
            ),
            "voicebot (BargeIn, pause at speech), Silero start 0.064 s": dict(
                start_secs=0.064, barge_in="speech"
            ),
            "voicebot barge_in=None (Pipecat's turn start), Silero 0.2 s": dict(
                start_secs=0.2, barge_in=None
            ),
        }
        if fresh or pair:
            contenders = dict(list(contenders.items())[:2])
        if hint_pair:
            contenders = dict(list(contenders.items())[:1])
            first = next(iter(contenders))
            contenders[first.replace("first sound)", "first sound, no STT hint)")] = dict(
                start_secs=0.2, barge_in="first_sound", hint=False
            )
        if confidence_pair:
            contenders = dict(list(contenders.items())[:1])
            first = next(iter(contenders))
            contenders[first.replace("first sound)", "first sound at the VAD's 0.7)")] = dict(
                start_secs=0.2, barge_in="first_sound", confidence=None
            )
        if policy_pair or rise_pair:  # the default, then each pair's other contender
            contenders = dict(list(contenders.items())[:1])
            first = next(iter(contenders))
        if policy_pair:
            contenders[first.replace("first sound)", "first sound, policy before session 19)")] = (
                dict(start_secs=0.2, barge_in="first_sound", policy=POLICY_BEFORE)
            )
        if rise_pair:
            contenders[first.replace("first sound)", "first sound by the score alone)")] = dict(
                start_secs=0.2, barge_in="first_sound", rise_db=None
            )
        for name, kw in contenders.items():
            out = work / f"{len(runs)}.wav"
            session = ours_recorded(caller, out, chunk_secs=chunk_secs, **kw)
            await session.run()
            runs[name] = (out, session)
    else:
        for name, builder, interrupts, chunk in (
            ("voicebot (BargeIn default)", "ours", False, 0.04),
            ("voicebot (BargeIn, pause at speech)", "ours-speech", False, 0.04),
            ("voicebot barge_in=None", "ours-none", True, 0.04),
            ("stock Pipecat", "stock", True, 0.04),
            ("voicebot (BargeIn default), 20 ms chunks", "ours", False, 0.02),
            ("stock Pipecat, 20 ms chunks", "stock", True, 0.02),
        ):
            out = work / f"{len(runs)}.wav"
            script = script_for(events, interrupts)
            if builder == "stock":
                c = build_stock(v, script, caller, out, linger_secs=1.0, output_chunk_secs=chunk)
            else:
                c = ours_scripted(v, script, caller, out, builder, chunk)
            await run_all([c])
            runs[name] = (out, c.session)

    result: dict[str, Any] = {"events": [e.__dict__ for e in events], "contenders": {}}
    for name, (out, session) in runs.items():
        samples, rate = read_samples(out)
        rows = []
        for e, t0, (onset, end) in zip(events, starts, marks, strict=True):
            r = judge(samples.astype(np.float32), rate, t0, onset)
            rows.append({"kind": e.kind, "text": e.text, "onset": onset, "secs": end - onset, **r})
        pause = session.barge_in if session else None
        decisions = list(pause.decisions) if pause else []
        heard = list(pause.heard) if pause else []  # each ruling's words
        result["contenders"][name] = {
            "events": rows,
            "decisions": decisions,
            "heard": heard,
            **summary(rows),
        }
    return result


def ours_scripted(
    v: Vendors, script: Script, caller: Path, out: Path, builder: str, chunk_secs: float
) -> Any:
    """``build_ours``'s bot with ``BargeIn()`` ("ours"), ``BargeIn(pause_at="speech")``
    ("ours-speech") or none ("ours-none"), writing ``chunk_secs`` chunks."""
    from benchmarks.common import Contender
    from voicebot import BargeIn, WavFile

    bot = build_ours(v, script, caller, out).session.bot
    if builder == "ours-none":
        bot = bot.replace(barge_in=None)
    elif builder == "ours-speech":
        bot = bot.replace(barge_in=BargeIn(pause_at="speech"))
    wav = WavFile(input=caller, output=out, linger_secs=1.0, output_chunk_secs=chunk_secs)
    session = bot.session(transport=wav, env={})
    return Contender("ours", session.run, session.transport, session.worker, session)


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    spoken = [r for r in rows if r.get("speaking")]
    bcs = [r for r in spoken if r["kind"] != "barge_in"]
    barge = [r for r in spoken if r["kind"] == "barge_in"]
    return {
        "bot_not_speaking_at_event": len(rows) - len(spoken),
        "never_stopped": sum(1 for r in spoken if r["stop_secs"] is None),
        "stop_secs": dist([r["stop_secs"] for r in spoken if r["stop_secs"] is not None]),
        "barge_in_stop_secs": dist([r["stop_secs"] for r in barge if r["stop_secs"] is not None]),
        "false_stops": sum(1 for r in bcs if not r["resumed"]),
        "backchannels_and_noises": len(bcs),
        "missed_barge_ins": sum(1 for r in barge if r["resumed"]),
        "barge_ins": len(barge),
        "gap_secs": dist([r["gap_secs"] for r in bcs if r["gap_secs"] is not None]),
    }


def report(r: dict[str, Any], label: str) -> str:
    rows = []
    for name, x in r["contenders"].items():
        s, b, g = x["stop_secs"], x["barge_in_stop_secs"], x["gap_secs"]
        rows.append(
            [
                name,
                f"{x['false_stops']}/{x['backchannels_and_noises']}",
                f"{x['missed_barge_ins']}/{x['barge_ins']}",
                ms(b["p50"]),
                ms(b["p95"]),
                ms(s["p95"]),
                ms(g["p50"]),
                ms(g["max"]),
                x["never_stopped"],
                x["bot_not_speaking_at_event"],
            ]
        )
    head = ["", "false stops", "missed barge-ins", "barge-in stop p50", "p95",
            "any sound stop p95", "gap p50", "gap max", "never stopped",
            "not speaking"]  # fmt: skip
    return table(head, rows, f"backchannels and barge-ins, {label} set (ms)")


def written_sets_sha256(name: str | None) -> str | None:
    """The written set's phrases, hashed, so a result names exactly what was spoken."""
    if not name:
        return None
    import hashlib
    import json

    from benchmarks.backchannel_written_sets import phrases

    return hashlib.sha256(json.dumps(phrases(name)).encode()).hexdigest()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recorded", action="store_true", help="real audio, Silero and Whisper")
    p.add_argument("--fresh", action="store_true", help="the fresh recorded barge-ins")
    p.add_argument("--name", help="results file name (default backchannel_<set>)")
    p.add_argument("--chunk", type=float, default=0.04, help="recorded sets: output chunk secs")
    p.add_argument("--pair", action="store_true", help="recorded set: the two pause points only")
    p.add_argument("--fresh2", action="store_true", help="the second fresh set (backchannels too)")
    p.add_argument(
        "--hint-pair", action="store_true", help="recorded sets: first sound with/without STT hint"
    )
    p.add_argument(
        "--confidence-pair",
        action="store_true",
        help="recorded sets: first sound at 0.5 (default) and at the VAD's 0.7",
    )
    p.add_argument(
        "--set",
        choices=["fresh3", "fresh4", "fresh5", "fresh6"],
        help="session 19's written sets",
    )
    p.add_argument(
        "--rise-pair", action="store_true", help="recorded sets: first sound with/without rise"
    )
    p.add_argument(
        "--policy-pair", action="store_true", help="recorded sets: default vs the policy before"
    )
    args = p.parse_args(argv)
    args.recorded = args.recorded or args.fresh or args.fresh2 or bool(args.set)
    setup()
    label = args.set or (
        "fresh2"
        if args.fresh2
        else "fresh"
        if args.fresh
        else "recorded"
        if args.recorded
        else "scripted"
    )
    with tempfile.TemporaryDirectory(prefix="bench-backchannel-") as d:
        r = asyncio.run(
            run_set(
                args.recorded,
                Path(d),
                args.fresh,
                args.chunk,
                args.pair,
                fresh2=args.fresh2,
                hint_pair=args.hint_pair,
                confidence_pair=args.confidence_pair,
                written=args.set,
                policy_pair=args.policy_pair,
                rise_pair=args.rise_pair,
            )
        )
    from voicebot import BargeIn

    r["config"] = {
        "set": label,
        "barge_in": BargeIn().model_dump(),
        "policy_before": POLICY_BEFORE if args.policy_pair else None,
        "sets_sha256": written_sets_sha256(args.set),
        "reply_secs": REPLY_SECS,
        "cycle_secs": CYCLE_SECS,
        "vendors": "fake STT 50 ms, fake LLM 100 ms, tone TTS 50 ms"
        if not args.recorded
        else "Whisper (offline default), fake LLM 100 ms, tone TTS 50 ms, SilenceTurn 0.3 s",
        "vad": "energy, start 0.06 s, stop 0.2 s" if not args.recorded else "Silero, stop 0.2 s",
        "output_chunk_ms": "40 unless the row says 20"
        if not args.recorded
        else round(args.chunk * 1000),
    }
    path = save(args.name or f"backchannel_{label}", r)
    print(report(r, label))
    print(f"→ {path.relative_to(path.parents[2])}")
    return r


if __name__ == "__main__":
    main()
