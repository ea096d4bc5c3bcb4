"""The telephony path's latency cost: the same bot, the same caller, over the Twilio protocol
and over the WAV transport (issue #11, Done-when).

Setup. ``voicebot serve BOT --workers 1`` on loopback. The **phone** path: streamdouble (the
external Twilio Media Streams simulator) calls ``ws://127.0.0.1:PORT/phone/ws/twilio``, so the
call goes carrier socket → supervisor → relay over the worker's Unix socket → the worker's
Twilio serializer → the pipeline, and back. The **WAV** path: ``run_conversation`` (the WAV
transport) in this process, with the same bot file loaded once. Rounds alternate which path
goes first (phone, WAV; WAV, phone; ...), so drift in the machine's load hits both.

What makes the two measure the same thing:

- **The same audio.** The caller is 8 kHz speech (examples/audio/two_turns.wav by default,
  resampled once with soxr), μ-law encoded once: streamdouble sends those bytes, and the WAV
  path plays their decoding (``caller_8k.wav``), so both bots hear identical samples.
- **The same caller's timeline.** Position t of the file is spoken at t, and a 20 ms frame
  reaches the bot once all of it has been spoken: the WAV transport hands frame k over at
  (k+1)·20 ms. streamdouble sends frame n at its pacer's origin + n·20 ms, so its timeline
  starts one frame before its origin (position = arrival − origin + 20 ms).
- **The same speech end.** The end of each utterance is read off the caller's file with the
  runner's rule (``speech_segments``: RMS ≥ 0.02 of full scale in 5 ms windows).
- **The same "first bot audio".** Both recordings are laid on that timeline the way
  ``WavOutput`` lays the bot's audio (each chunk at max(end of the audio before it, the moment
  it was written/arrived)), at 8 kHz (the WAV path's 24 kHz output is resampled once with
  soxr), and read with the same rule (RMS ≥ 0.02 in 5 ms windows, gaps under 0.6 s bridged);
  the latency of a turn is ``runner.caller_latencies``: speech end → start of the next bot
  segment, if it began before the caller spoke again.

So the gap (phone − WAV) is what the telephony path adds: the serializer (μ-law, resampling
8 kHz ↔ the bot's rates), the output transport's resampling to the line's rate, the relay
through the supervisor, WebSocket framing on loopback. Not included: a real carrier's network
and jitter buffer. Each path's in-bot voice-to-voice (the bot's own figure) is recorded next
to it.

    .venv/bin/python -m benchmarks.phone_latency [--rounds 8]
    .venv/bin/python -m benchmarks.phone_latency --bot examples/offline_bot.py --rounds 1 \\
        --lead 9 --gap 14 --tail 14 --name phone_latency_offline

Writes benchmarks/results/NAME.json (configuration, load average, every turn of every call).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmarks.common import REPO, SPEECH_WAV, dist, ms, save, setup, table
from benchmarks.serve_host import ServeProcess, bot_config, cpu_model, git_commit, wait_idle
from voicebot.audio.segments import Segment, speech_segments
from voicebot.audio.wav import Pcm, read_wav, write_wav
from voicebot.testing.runner import caller_latencies

if TYPE_CHECKING:
    from streamdouble.session import SessionConfig

FAKE_BOT = REPO / "examples" / "fake_bot.py"
LINE_RATE = 8000
FRAME_SECS = 0.02
#: The runner's rules for reading speech off a recording (voicebot.testing.runner).
THRESHOLD, WINDOW_SECS, BOT_GAP_SECS = 0.02, 0.005, 0.6
#: Speech kept either side of an utterance when the caller is rearranged (--lead/--gap).
MARGIN_SECS = 0.15
#: Round r starts the caller's audio ``phase(r)`` later (0-160 ms: the 20 ms frames and the
#: VAD's 32 ms windows realign every 160 ms). The VAD decides once per window, so a shift of
#: a few ms can move a stop decision by a whole window; a fixed phase would turn that into a
#: bias of one path, repeated every round.
PHASE_CYCLE_SECS = 0.16
CALL_BOUND_SECS = 240.0
LOAD_WAIT_SECS = 1200.0


def phase(rnd: int) -> float:
    """Spread evenly over the cycle (golden-ratio steps), the same for both paths."""
    return round((rnd * 0.6180339887) % 1.0 * PHASE_CYCLE_SECS, 4)


@dataclass
class Caller:
    """The caller's audio: 8 kHz μ-law frames for streamdouble, their decoding as a WAV."""

    wav: Path
    frames: list[bytes]
    utterances: list[Segment]


@dataclass
class CallResult:
    """One call on one path: per utterance, caller-side latency and the bot's own figure."""

    path: str
    round: int
    latency: list[float | None]
    in_bot: list[float | None] = field(default_factory=list)
    user_text: list[str] = field(default_factory=list)
    bot_text: list[str] = field(default_factory=list)
    load_avg: float = 0.0
    #: Phone: streamdouble's worst frame lateness against its schedule (large: the caller,
    #: not the bot, fell behind). WAV: the transport's ``lag_secs`` (how late the caller's
    #: audio reached the output transport against its timeline: the pipeline's backlog).
    late_secs: float = 0.0
    notes: list[str] = field(default_factory=list)


def make_caller(src: Path, out_dir: Path, *, lead: float, gap: float | None, tail: float) -> Caller:
    """``src`` at 8 kHz through μ-law; with ``gap``, its utterances re-spaced ``gap`` s apart
    after ``lead`` s of silence; ``tail`` s of silence after the last one."""
    from streamdouble import g711
    from streamdouble.audio import frame_ulaw

    pcm = read_wav(src, LINE_RATE).samples
    found = speech_segments(Pcm(pcm, LINE_RATE), threshold=THRESHOLD, window_secs=WINDOW_SECS)
    if not found:
        raise SystemExit(f"{src}: no speech found")
    if gap is None:
        parts = [np.zeros(int(lead * LINE_RATE), np.int16), pcm[: int(found[-1].end * LINE_RATE)]]
    else:
        parts = [np.zeros(int(lead * LINE_RATE), np.int16)]
        for i, seg in enumerate(found):
            a = max(0, int((seg.start - MARGIN_SECS) * LINE_RATE))
            parts += [np.zeros(int(gap * LINE_RATE), np.int16)] if i else []
            parts.append(pcm[a : int((seg.end + MARGIN_SECS) * LINE_RATE)])
    parts.append(np.zeros(int(tail * LINE_RATE), np.int16))
    ulaw = g711.encode(np.concatenate(parts))
    frames = frame_ulaw(ulaw)
    heard = g711.decode(b"".join(frames))
    out_dir.mkdir(parents=True, exist_ok=True)
    wav = out_dir / "caller_8k.wav"
    write_wav(wav, Pcm(heard, LINE_RATE))
    utterances = speech_segments(
        Pcm(heard, LINE_RATE), threshold=THRESHOLD, window_secs=WINDOW_SECS
    )
    return Caller(wav, frames, utterances)


def bot_speech(recording: Pcm) -> list[Segment]:
    """The bot's speech in ``recording``, read with the runner's rule."""
    return speech_segments(
        recording, threshold=THRESHOLD, window_secs=WINDOW_SECS, min_gap_secs=BOT_GAP_SECS
    )


def latencies(caller: Caller, recording: Pcm) -> list[float | None]:
    """Per utterance: its end → the first loud bot audio after it (the runner's rule)."""
    return caller_latencies(caller.utterances, bot_speech(recording))


def phone_recording(chunks: list[tuple[float, np.ndarray]]) -> Pcm:
    """The bot's audio on the caller's timeline: each chunk ``(position, samples)`` at the
    later of its position and the end of the audio before it (``WavOutput``'s rule)."""
    out: list[np.ndarray] = []
    cursor = 0
    for pos, samples in chunks:
        at = max(cursor, round(pos * LINE_RATE))
        if at > cursor:
            out.append(np.zeros(at - cursor, np.int16))
        out.append(samples)
        cursor = at + len(samples)
    return Pcm(np.concatenate(out) if out else np.zeros(0, np.int16), LINE_RATE)


def session_chunks(result: Any) -> list[tuple[float, np.ndarray]]:
    """streamdouble's received media as (timeline position, 8 kHz samples) chunks."""
    from streamdouble import g711

    audio, chunks, offset = result.audio_received, [], 0
    origin = result.started_at - FRAME_SECS  # frame n is sent at origin + n * 20 ms
    for event in result.events:
        if event.kind == "media_received":
            n = event.detail["bytes"]
            chunks.append((event.at - origin, g711.decode(audio[offset : offset + n])))
            offset += n
    return chunks


def twilio_url(server: ServeProcess) -> str:
    """The supervisor's Twilio media socket (direct: no webhook, no ticket)."""
    assert server.url is not None
    return server.url.replace("http://", "ws://") + "phone/ws/twilio"


def session_config(from_number: str = "+15550001111") -> SessionConfig:
    """streamdouble's settings for one call: a patient caller, every wait bounded."""
    from streamdouble.session import SessionConfig

    return SessionConfig(
        response_timeout_s=120,
        quiet_period_s=1.0,
        max_drain_s=60,
        max_call_s=CALL_BOUND_SECS,
        custom_parameters={"from_number": from_number, "to_number": "+15559990000"},
    )


async def user_turns(server: ServeProcess, call_id: str) -> list[dict[str, Any]] | None:
    """The server's record of the call's user turns (``/api/sessions/ID``), or None."""
    import httpx

    async with httpx.AsyncClient(timeout=30) as http:
        view = await http.get(f"{server.url}api/sessions/{call_id}")
    if view.status_code != 200:
        return None
    return [t for t in view.json()["turns"] if t["user"]]


async def phone_call(server: ServeProcess, log: Path, caller: Caller, rnd: int) -> CallResult:
    """One streamdouble call through the supervisor; the server's view of it after."""
    from streamdouble.session import Session

    load = os.getloadavg()[0]
    result = await Session(twilio_url(server), caller.frames, config=session_config()).run()
    out = CallResult("phone", rnd, latencies(caller, phone_recording(session_chunks(result))))
    out.load_avg, out.late_secs = load, result.pacing.max_lateness_s
    out.notes += [str(v) for v in result.violations] + list(result.warnings)
    ids = re.findall(r"serve: twilio call (\S+) (?:handed|relayed) to worker", log.read_text())
    if ids and (turns := await user_turns(server, ids[-1])) is not None:
        out.in_bot = [t["voice_to_voice_secs"] for t in turns]
        out.user_text = [t["user"] for t in turns]
        out.bot_text = [t["bot"] for t in turns]
    await asyncio.to_thread(wait_idle, server)
    return out


async def wav_call(bot: Any, caller: Caller, rnd: int) -> CallResult:
    """The same caller through the WAV transport, in this process."""
    from voicebot.testing.runner import run_conversation

    load = os.getloadavg()[0]
    conv = await run_conversation(bot, caller.wav, caller.wav.parent / "wav.wav", linger_secs=1.5)
    out = CallResult("wav", rnd, latencies(caller, read_wav(conv.output_path, LINE_RATE)))
    turns = conv.user_turns
    out.in_bot = [t.voice_to_voice_secs for t in turns]
    out.user_text = [t.user_text for t in turns]
    out.bot_text = [t.bot_text for t in turns]
    out.load_avg, out.late_secs, out.notes = load, conv.lag_secs, list(conv.warnings)
    return out


def soxr_input_bot(bot: Path, out_dir: Path) -> Path:
    """A bot file serving ``bot`` with ``LineRateSerializer`` passing audio through: the
    carrier's serializer then resamples the caller with soxr's stream, as before it existed."""
    path = out_dir / "soxr_input_bot.py"
    path.write_text(
        "from voicebot.audio.upsample import StreamUpsampler\n"
        "from voicebot.cli import load_bot\n\n"
        "StreamUpsampler.supports = staticmethod(lambda a, b: False)  # type: ignore\n"
        f"bot = load_bot({str(bot)!r})\n"
    )
    return path


async def wait_for_calm(max_load: float) -> float:
    """Until the 1-minute load average is at most ``max_load`` (bounded); the seconds waited."""
    start = time.monotonic()
    while os.getloadavg()[0] > max_load and time.monotonic() - start < LOAD_WAIT_SECS:
        print(f"load average {os.getloadavg()[0]:.2f} > {max_load}: waiting", flush=True)
        await asyncio.sleep(30)
    return time.monotonic() - start


async def measure(
    bot_file: Path, callers: list[Caller], out_dir: Path, max_load: float
) -> list[CallResult]:
    """One round of one call per path for each caller, the order alternating."""
    from voicebot.cli import load_bot

    bot = load_bot(str(bot_file))
    log = out_dir / "serve.log"
    server = ServeProcess(bot_file, 1, log)
    calls: list[CallResult] = []
    try:
        await asyncio.to_thread(server.wait_ready)
        await asyncio.to_thread(wait_idle, server)
        for rnd, caller in enumerate(callers):
            await wait_for_calm(max_load)
            for path in ("phone", "wav") if rnd % 2 == 0 else ("wav", "phone"):
                call = (
                    phone_call(server, log, caller, rnd)
                    if path == "phone"
                    else wav_call(bot, caller, rnd)
                )
                calls.append(await asyncio.wait_for(call, CALL_BOUND_SECS))
                c = calls[-1]
                print(f"round {rnd} {path}: {[ms(v, 0) for v in c.latency]} ms", flush=True)
    finally:
        await asyncio.to_thread(server.stop)
    return calls


def summarize(calls: list[CallResult]) -> dict[str, Any]:
    """Per path: caller-side and in-bot distributions; the gap; turns unanswered."""
    out: dict[str, Any] = {}
    for path in ("phone", "wav"):
        mine = [c for c in calls if c.path == path]
        values = [v for c in mine for v in c.latency if v is not None]
        out[path] = {
            "calls": len(mine),
            "turns": sum(len(c.latency) for c in mine),
            "unanswered": sum(v is None for c in mine for v in c.latency),
            "caller": dist(values),
            "in_bot": dist([v for c in mine for v in c.in_bot if v is not None]),
            "late_max_secs": max((c.late_secs for c in mine), default=0.0),
        }
    # Paired by round and turn: the same utterance on both paths, close in time.
    pairs = [
        a - b
        for p in calls
        if p.path == "phone"
        for w in calls
        if w.path == "wav" and w.round == p.round
        for a, b in zip(p.latency, w.latency, strict=False)
        if a is not None and b is not None
    ]
    phone, wav = out["phone"]["caller"], out["wav"]["caller"]
    out["gap"] = {
        "p50": None if phone["p50"] is None or wav["p50"] is None else phone["p50"] - wav["p50"],
        "p95": None if phone["p95"] is None or wav["p95"] is None else phone["p95"] - wav["p95"],
        "paired": dist(pairs),
    }
    return out


def print_summary(summary: dict[str, Any], title: str) -> None:
    rows = []
    for path in ("phone", "wav"):
        s = summary[path]
        rows.append([
            path, s["calls"], f"{s['turns'] - s['unanswered']}/{s['turns']}",
            ms(s["caller"]["p50"], 0), ms(s["caller"]["p95"], 0),
            ms(s["in_bot"]["p50"], 0), ms(s["in_bot"]["p95"], 0),
            ms(s["late_max_secs"], 0),
        ])  # fmt: skip
    gap = summary["gap"]
    rows.append([
        "gap (phone - wav)", "", "", ms(gap["p50"], 0), ms(gap["p95"], 0), "", "",
        f"paired p50 {ms(gap['paired']['p50'], 0)}",
    ])  # fmt: skip
    headers = ["path", "calls", "answered", "p50", "p95", "in-bot p50", "in-bot p95", "late/lag"]
    print(table(headers, rows, title=title))


def print_transcript(calls: list[CallResult]) -> None:
    """What the caller said (as the bot's STT heard it) and what the bot answered."""
    for c in calls:
        print(f"-- round {c.round}, {c.path}")
        for user, bot, lat in zip(c.user_text, c.bot_text, c.latency, strict=False):
            print(f"   caller: {user}\n   bot ({ms(lat, 0)} ms): {bot}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bot", type=Path, default=FAKE_BOT, help="the bot file")
    parser.add_argument("--audio", type=Path, default=SPEECH_WAV, help="the caller's speech")
    parser.add_argument("--rounds", type=int, default=8, help="calls per path")
    parser.add_argument("--lead", type=float, default=0.0, help="silence before (s)")
    parser.add_argument("--gap", type=float, default=None, help="re-space utterances (s)")
    parser.add_argument("--tail", type=float, default=5.0, help="silence after (s)")
    parser.add_argument("--max-load", type=float, default=3.0, help="wait above this load")
    parser.add_argument("--name", default="phone_latency", help="results/NAME.json")
    parser.add_argument(
        "--soxr-input", action="store_true", help="as before LineRateSerializer (for comparison)"
    )
    args = parser.parse_args()
    for given in (args.bot, args.audio):
        if not given.is_file():
            parser.error(f"{given}: no such file")
    setup(-1)  # no pinning: the server's processes and this one share the cores
    out_dir = REPO / "out" / args.name
    callers = [
        make_caller(args.audio, out_dir / f"r{r}", lead=args.lead + phase(r), gap=args.gap,
                    tail=args.tail)
        for r in range(args.rounds)
    ]  # fmt: skip
    bot = soxr_input_bot(args.bot.resolve(), out_dir) if args.soxr_input else args.bot.resolve()
    load0 = os.getloadavg()
    calls = asyncio.run(measure(bot, callers, out_dir, args.max_load))
    load1 = os.getloadavg()
    summary = summarize(calls)
    print_transcript(calls)
    print_summary(
        summary,
        f"{args.bot.name}{' (soxr input)' if args.soxr_input else ''}, {args.audio.name} at "
        f"8 kHz μ-law, {args.rounds} rounds; caller-side "
        f"first audio (ms); load {load0[0]:.2f} -> {load1[0]:.2f} ({cpu_model()})",
    )
    path = save(
        args.name,
        {
            "config": {
                "bot": bot_config(args.bot.resolve()),
                "audio": str(args.audio.resolve().relative_to(REPO)),
                "line": "8 kHz μ-law, 20 ms frames (streamdouble); the WAV path plays its decoding",
                "soxr_input": args.soxr_input,
                "caller_secs": len(callers[0].frames) * FRAME_SECS,
                "utterances_round_0": [asdict(u) for u in callers[0].utterances],
                "lead_secs": args.lead,
                "phase_secs": [phase(r) for r in range(args.rounds)],
                "gap_secs": args.gap,
                "tail_secs": args.tail,
                "rounds": args.rounds,
                "order": "alternating: phone first in even rounds, WAV first in odd",
                "speech_rule": {"rms": THRESHOLD, "window": WINDOW_SECS, "bot_gap": BOT_GAP_SECS},
                "serve": "voicebot serve BOT --workers 1 --port 0 (loopback, no token)",
                "phone_url": "/phone/ws/twilio (direct: supervisor relay, worker UDS)",
                "max_load": args.max_load,
                "load_average_before_after": [load0, load1],
                "cpu_model": cpu_model(),
                "git_commit": git_commit(),
            },
            "summary": summary,
            "calls": [asdict(c) for c in calls],
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
