"""Load and fault benchmark for ``voicebot serve`` on one host (issue #12, item 4).

Setup. ``voicebot serve examples/fake_bot.py --workers W`` (a supervisor and W warm worker
processes, one call each) on loopback; the bot is Silero VAD + smart-turn v3 (real CPU per
call) with fake vendors of vendor-like delays (STT 150 ms, LLM first token 300 ms, TTS
first audio 150 ms: read from the bot file and written to the JSON). N callers
(``voicebot.testing.webrtc_caller``, aiortc, in this process) each play
examples/audio/two_turns.wav (two questions) as their microphone in real time, starting
``--stagger`` seconds apart, each from its own loopback address (127.0.0.10+i: the server
limits new calls per client address, and distinct callers are distinct clients).

Measured per call, from the caller's side: the time from the end of each question (as sent)
to the first loud bot audio that arrives after it (**caller voice-to-voice**, the "first
audio" of a reply), whether each question was answered before the caller spoke again,
whether the call was lost (its bot audio stopped, or the server no longer knew it), and the
server's own voice-to-voice for the same turns. Per run: per-worker RSS (VmRSS of the pids
in ``/api/status``) idle before the calls, peak during, and after each round; the
supervisor's RSS; the server's CPU time (supervisor + workers, /proc) per second of call;
the load average; this harness's own CPU and how far its microphones fell behind real time.

The callers run at a higher scheduling priority (``--caller-nice``, default -10; the server
keeps the priority this process started with): real callers bring their own CPUs, while
these share two cores with the server, and a caller starved of CPU sends its audio late,
which the server then hears as a slow or dead caller. The callers' CPU (Opus, SRTP) still
comes out of the same two cores; the table shows it ("harness").

Runs. For each N in ``--calls`` (default 1 2 4 8 12): a fresh server with W = N, ``--rounds``
rounds of N calls. Then, on the server with the most workers, one round of W + 2 calls:
two must be refused (503). Then the **fault run**: on a server with W = ``--fault-calls``,
one round of N = W calls in which one worker is killed (SIGKILL) once every caller has
heard its first reply (so mid-call: the other calls are between or in their second
question): the others' turns must all be answered and their voice-to-voice is compared with
the rounds without the kill on the same server; exactly one call lost; the worker replaced
(a new pid, ready).

Phone callers (``--transport twilio``, benchmarks/phone_callers.py). Each of the N callers
is a Twilio Media Streams client (streamdouble) of the supervisor's ``/phone/ws/twilio``
(relayed to a worker), playing the same file at 8 kHz μ-law in real time, then 5 s of
silence: the same fields per call (a full host refuses a phone call by closing the socket
before accepting it: the handshake's 403), so the same table, with the transport in its
title and the JSON's config.

"Calls per core" is the largest N (and every smaller N) with every call kept, every turn
answered and caller voice-to-voice p95 within 50 ms of the N=1 p95 of this run, divided by
the CPU count. Expected, before measuring: each call is a process of its own, so calls do
not share a loop; the cost is CPU: Silero ~2-3 % of a core per call plus smart-turn
~50-150 ms at each end of turn, plus the harness. On 2 shared cores, p95 should hold to
about 8 calls and start to grow by 12, sooner when other work loads the machine.

    .venv/bin/python -m benchmarks.serve_load [--calls 1 2 4 8 12] [--rounds 3]
    .venv/bin/python -m benchmarks.serve_load --transport twilio --name serve_load_phone

Writes benchmarks/results/NAME.json (default serve_load.json: configuration, machine, every call).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import REPO, SPEECH_WAV, dist, machine, ms, save, setup, table
from benchmarks.serve_host import (
    ServeProcess,
    bot_config,
    cpu_model,
    cpu_secs,
    git_commit,
    rss_mb,
    server_pids,
    wait_idle,
    worker_rss,
)

FAKE_BOT = REPO / "examples" / "fake_bot.py"
#: The bot served (``--bot``; the fake bot by default).
BOT = [FAKE_BOT]
#: How the callers call (``--transport``): "webrtc" or "twilio".
TRANSPORT = ["webrtc"]
#: More ``voicebot serve`` flags (``--relay-phone``).
SERVE_FLAGS: list[str] = []
ROUND_BOUND_SECS = 180.0
P95_SLACK_SECS = 0.050
#: What each transport's callers send and hear, for the JSON.
LINES = {
    "webrtc": "aiortc peers (Opus, SRTP), 16 kHz WAV as the microphone, each from its own "
    "loopback address",
    "twilio": "streamdouble Twilio Media Streams clients of /phone/ws/twilio (the socket handed "
    "to a worker, or relayed with --relay-phone): 8 kHz μ-law, 20 ms frames, 5 s of silence "
    "after the file",
}


async def kill_mid_call(server: ServeProcess, callers: list[Any], n: int) -> dict[str, Any]:
    """Once every connected caller has heard its first reply, SIGKILL a worker holding a
    call; then wait (bounded) until a new worker at its index is ready."""
    deadline = time.monotonic() + ROUND_BOUND_SECS / 2
    while len(callers) < n and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    live = [c for c in callers if not c.report.refused]
    await asyncio.gather(*(c.wait_heard(0, deadline - time.monotonic()) for c in live))
    workers = (await asyncio.to_thread(server.status))["workers"]
    victim = next((w for w in workers if w["calls"] >= 1 and w["pid"]), None)
    if victim is None:
        return {"error": f"no worker held a call to kill: {workers}"}
    os.kill(victim["pid"], signal.SIGKILL)
    killed_at = time.monotonic()
    replaced_secs = None
    while time.monotonic() - killed_at < ROUND_BOUND_SECS:
        now = (await asyncio.to_thread(server.status))["workers"]
        new = next(w for w in now if w["index"] == victim["index"])
        if new["pid"] != victim["pid"] and new["ready"]:
            replaced_secs = time.monotonic() - killed_at
            break
        await asyncio.sleep(0.2)
    return {"index": victim["index"], "pid": victim["pid"], "replaced_secs": replaced_secs}


async def one_round(
    server: ServeProcess, log: Path, n: int, stagger: float, kill: bool = False
) -> dict[str, Any]:
    """N calls, the i-th starting ``i * stagger`` s after the first; RSS sampled meanwhile.
    ``log``: the server's (phone callers find their call ids in it)."""
    from benchmarks.phone_callers import PhoneCaller
    from voicebot.testing.webrtc_caller import CallReport, WebRTCCaller

    assert server.url is not None
    callers: list[WebRTCCaller | PhoneCaller] = []
    peak: dict[int, float] = {}
    stop = asyncio.Event()

    call_secs: list[float] = []

    async def call(i: int) -> Any:
        await asyncio.sleep(i * stagger)
        report: CallReport
        if TRANSPORT[0] == "twilio":
            phone = PhoneCaller(server, log, i)
            callers.append(phone)
            start = time.monotonic()
            report = await phone.call()
        else:
            caller = WebRTCCaller(server.url or "", SPEECH_WAV, local_address=f"127.0.0.{10 + i}")
            callers.append(caller)
            start = time.monotonic()
            try:
                if await caller.call() == 200 and await caller.wait_connected(60.0):
                    await caller.wait_done(linger_secs=1.5, max_wait_secs=20.0, stall_secs=5.0)
                    await caller.server_view()
            finally:
                report = await caller.hang_up()
        if not report.refused:
            call_secs.append(time.monotonic() - start)
        return report

    async def sample() -> None:
        while not stop.is_set():
            with contextlib.suppress(httpx.HTTPError):
                for w in (await asyncio.to_thread(server.status))["workers"]:
                    if (r := rss_mb(w["pid"])) is not None:
                        peak[w["pid"]] = max(peak.get(w["pid"], 0.0), r)
            await asyncio.sleep(1.0)

    pids = await asyncio.to_thread(server_pids, server)
    server_cpu0 = {pid: cpu_secs(pid) for pid in pids}
    cpu0, wall0, load0 = time.process_time(), time.monotonic(), os.getloadavg()
    sampler = asyncio.create_task(sample())
    killer = asyncio.create_task(kill_mid_call(server, callers, n)) if kill else None
    try:
        reports = await asyncio.wait_for(
            asyncio.gather(*(call(i) for i in range(n))), ROUND_BOUND_SECS
        )
        fault = await asyncio.wait_for(killer, ROUND_BOUND_SECS) if killer is not None else None
    finally:
        stop.set()
        for task in (sampler, killer):
            if task is not None and not task.done():
                task.cancel()
        await asyncio.gather(sampler, return_exceptions=True)
    wall = time.monotonic() - wall0
    # CPU of the server processes alive at both ends (a killed worker's share is missed).
    used = [
        after - before
        for pid, before in server_cpu0.items()
        if before is not None and (after := cpu_secs(pid)) is not None
    ]
    sup = server.proc.pid
    sup_used = (
        after - server_cpu0[sup]
        if server_cpu0.get(sup) is not None and (after := cpu_secs(sup)) is not None
        else 0.0
    )
    return {
        "server_cpu_secs": sum(used),
        "supervisor_cpu_secs": sup_used,
        "call_secs": sum(call_secs),
        "n": n,
        "reports": reports,
        "fault": fault,
        "worker_rss_peak_mb": sorted(peak.values()),
        "load_avg_before": load0[0],
        "load_avg_after": os.getloadavg()[0],
        "harness_cpu_pct": 100 * (time.process_time() - cpu0) / wall,
    }


def stage_dists(turns: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Per stage key (``voicebot.metrics.STAGES`` and ``pipeline``), the distribution of its
    seconds over the server's turns that were measured: where a longer voice-to-voice went."""
    measured = [t.get("stages") or {} for t in turns if t.get("voice_to_voice_secs") is not None]
    keys = sorted({k for st in measured for k in st})
    return {k: dist([st.get(k, 0.0) for st in measured]) for k in keys}


def print_stages(rows: list[dict[str, Any]]) -> None:
    """Each run's per-stage p50/p95 (ms) from the server's turn records."""
    keys = sorted({k for r in rows for k in r.get("server_stages", {})})
    if not keys:
        return
    print(
        table(
            ["run", *keys],
            [
                [r["label"]]
                + [
                    f"{ms(d['p50'], 0)}/{ms(d['p95'], 0)}"
                    if (d := r["server_stages"].get(k))
                    else "-"
                    for k in keys
                ]
                for r in rows
            ],
            title="server stages p50/p95 (ms)",
        )
    )


def summarize(
    label: str, workers: int, rounds: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    """One table row (and its JSON) from the rounds of one run."""
    reports = [r for rnd in rounds for r in rnd["reports"]]
    admitted = [r for r in reports if not r.refused]
    kept = [r for r in admitted if not r.lost]
    v2v = [v for r in kept for v in r.voice_to_voice]
    server = [
        t["voice_to_voice_secs"]
        for r in kept
        for t in r.server_turns
        if t.get("voice_to_voice_secs") is not None
    ]
    return {
        "label": label,
        "n": rounds[0]["n"],
        "workers": workers,
        "rounds": len(rounds),
        "calls": len(reports),
        "refused": sum(r.refused for r in reports),
        "refused_statuses": sorted({r.status for r in reports if r.refused}),
        "lost": sum(r.lost for r in admitted),
        "lost_reasons": [r.lost_reason for r in admitted if r.lost],
        "turns_answered": sum(r.answered for r in kept),
        "turns_expected": sum(len(r.turns) for r in kept),
        "turns_late": sum(t.late for r in kept for t in r.turns),
        "caller_v2v": dist(v2v),
        "server_v2v": dist(server),
        "server_stages": stage_dists(t for r in kept for t in r.server_turns),
        "connect": dist([r.connect_secs for r in admitted if r.connect_secs is not None]),
        "send_late_max_secs": max((r.send_late_max_secs for r in admitted), default=0.0),
        "worker_rss_peak_mb": max(max(x["worker_rss_peak_mb"], default=0) for x in rounds),
        "load_avg": [rounds[0]["load_avg_before"], rounds[-1]["load_avg_after"]],
        "harness_cpu_pct": max(x["harness_cpu_pct"] for x in rounds),
        # Server CPU (supervisor + workers) per second of call, in % of one core.
        "server_cpu_pct_per_call": 100
        * sum(x["server_cpu_secs"] for x in rounds)
        / max(1e-9, sum(x["call_secs"] for x in rounds)),
        # Of which the supervisor (the relay of phone calls, the heartbeats).
        "supervisor_cpu_pct_per_call": 100
        * sum(x.get("supervisor_cpu_secs", 0.0) for x in rounds)
        / max(1e-9, sum(x["call_secs"] for x in rounds)),
        "calls_detail": [
            {
                "status": r.status,
                "lost": r.lost,
                "lost_reason": r.lost_reason,
                "connect_secs": r.connect_secs,
                "caller_v2v": [t.reply_after_secs for t in r.turns],
                "late": [t.late for t in r.turns],
                "server_v2v": [t.get("voice_to_voice_secs") for t in r.server_turns],
                "server_stages": [t.get("stages") or {} for t in r.server_turns],
                "send_late_max_secs": r.send_late_max_secs,
            }
            for r in reports
        ],
        **extra,
    }


async def run_server(
    workers: int,
    rounds: int,
    stagger: float,
    log_dir: Path,
    *,
    over: bool,
    fault: bool,
    server_nice: int | None,
) -> list[dict[str, Any]]:
    """One server: its rounds, then (``over``) W + 2 calls, then (``fault``) a kill round."""
    log = log_dir / f"serve_w{workers}.log"
    server = ServeProcess(BOT[0], workers, log, server_nice, SERVE_FLAGS)
    rows: list[dict[str, Any]] = []
    try:
        await asyncio.to_thread(server.wait_ready)
        sup_before = rss_mb(server.proc.pid)
        idle = await asyncio.to_thread(worker_rss, server)
        done, per_round = [], []
        for _ in range(rounds):
            done.append(await one_round(server, log, workers, stagger))
            await asyncio.to_thread(wait_idle, server)
            per_round.append(await asyncio.to_thread(worker_rss, server))
        mem = {
            "worker_rss_idle_mb": idle,
            "worker_rss_after_mb": per_round[-1],
            "worker_rss_after_each_round_mb": per_round,
            "supervisor_rss_mb": [sup_before, rss_mb(server.proc.pid)],
        }
        rows.append(summarize(f"N={workers}", workers, done, **mem))
        if over:
            extra = await one_round(server, log, workers + 2, stagger)
            await asyncio.to_thread(wait_idle, server)
            rows.append(summarize(f"N={workers + 2} (over)", workers, [extra]))
        if fault:
            killed = await one_round(server, log, workers, stagger, kill=True)
            rows.append(summarize(f"N={workers} kill -9", workers, [killed], fault=killed["fault"]))
    finally:
        await asyncio.to_thread(server.stop)
    return rows


def calls_per_core(rows: list[dict[str, Any]], cpus: int) -> tuple[int, float]:
    """The largest N (and every smaller one) within the slack of N=1, and N per CPU."""
    base = next(r for r in rows if r["n"] == 1 and r["label"] == "N=1")["caller_v2v"]["p95"]
    best = 0
    for r in sorted((r for r in rows if r["label"] == f"N={r['n']}"), key=lambda r: r["n"]):
        ok = (
            r["lost"] == 0
            and r["refused"] == 0
            and r["turns_answered"] == r["turns_expected"] > 0
            and r["caller_v2v"]["p95"] is not None
            and r["caller_v2v"]["p95"] <= base + P95_SLACK_SECS
        )
        if not ok:
            break
        best = r["n"]
    return best, best / cpus


def print_table(rows: list[dict[str, Any]], title: str) -> None:
    """v2v: caller-side; srv: the server's own figure; mic late: the callers' worst lag
    behind real time (large means the harness, not the server, fell behind)."""
    base = next(r for r in rows if r["label"] == "N=1")["caller_v2v"]["p95"]

    def mb(v: Any) -> str:
        return "-" if not v else f"{max(v) if isinstance(v, list) else v:.0f}"

    print(
        table(
            ["run", "W", "calls", "refused", "lost", "turns", "v2v p50", "v2v p95", "Δp95",
             "srv p50", "srv p95", "connect p50", "wRSS idle/peak/after", "sup RSS",
             "srv CPU/call", "of which sup", "load", "harness", "mic late"],
            [
                [
                    r["label"], r["workers"], r["calls"], r["refused"], r["lost"],
                    f"{r['turns_answered']}/{r['turns_expected']}",
                    ms(r["caller_v2v"]["p50"], 0), ms(r["caller_v2v"]["p95"], 0),
                    "-" if r["caller_v2v"]["p95"] is None or base is None
                    else f"{(r['caller_v2v']['p95'] - base) * 1000:+.0f}",
                    ms(r["server_v2v"]["p50"], 0), ms(r["server_v2v"]["p95"], 0),
                    ms(r["connect"]["p50"], 0),
                    f"{mb(r.get('worker_rss_idle_mb'))}/{mb(r['worker_rss_peak_mb'])}/"
                    f"{mb(r.get('worker_rss_after_mb'))}",
                    mb(r.get("supervisor_rss_mb")),
                    f"{r['server_cpu_pct_per_call']:.0f}%",
                    f"{r.get('supervisor_cpu_pct_per_call', 0):.1f}%",
                    f"{r['load_avg'][0]:.1f}->{r['load_avg'][1]:.1f}",
                    f"{r['harness_cpu_pct']:.0f}%",
                    ms(r["send_late_max_secs"], 0),
                ]
                for r in rows
            ],
            title=title,
        )
    )  # fmt: skip


async def bench(
    args: argparse.Namespace, log_dir: Path, server_nice: int | None
) -> list[dict[str, Any]]:
    """Every server of the run, smallest first; the fault run on its own if W is not listed."""
    rows: list[dict[str, Any]] = []
    top = max(args.calls)
    faults = {args.fault_calls} if args.fault_calls > 0 else set()  # 0: no kill run
    for n in sorted(set(args.calls) | faults):
        rows += await run_server(
            n, args.rounds, args.stagger, log_dir, over=n == top,
            fault=n == args.fault_calls, server_nice=server_nice,
        )  # fmt: skip
    return rows


def raise_callers(nice: int) -> int | None:
    """Give this process (the callers) priority ``nice``; returns the priority the server
    should keep (the one we had), or None if the change was not permitted."""
    before = os.getpriority(os.PRIO_PROCESS, 0)
    try:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    except PermissionError:
        return None
    return before


def fault_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The kill run against the run of the same N without a kill."""
    out = []
    for r in rows:
        if r.get("fault"):
            calm = next(x for x in rows if x["label"] == f"N={r['n']}")
            out.append(
                f"fault run (N=W={r['n']}): killed worker {r['fault']}; lost {r['lost']} "
                f"({'; '.join(r['lost_reasons'])}); the others' turns answered "
                f"{r['turns_answered']}/{r['turns_expected']}; their voice-to-voice p95 "
                f"{ms(r['caller_v2v']['p95'], 0)} ms vs {ms(calm['caller_v2v']['p95'], 0)} "
                "ms without the kill"
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, nargs="+", default=[1, 2, 4, 8, 12])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of N calls per N")
    parser.add_argument("--stagger", type=float, default=0.5, help="seconds between starts")
    parser.add_argument("--fault-calls", type=int, default=8, help="N (= W) of the kill run")
    parser.add_argument(
        "--caller-nice", type=int, default=-10, help="the callers' priority (server: unchanged)"
    )
    parser.add_argument("--bot", type=Path, default=FAKE_BOT, help="the bot file served")
    parser.add_argument(
        "--transport", choices=["webrtc", "twilio"], default="webrtc", help="how callers call"
    )
    parser.add_argument(
        "--relay-phone",
        action="store_true",
        help="serve with --relay-phone (media relayed by the supervisor, not handed over)",
    )
    parser.add_argument(
        "--name", default="serve_load", help="results file: benchmarks/results/NAME.json"
    )
    args = parser.parse_args()
    if not args.bot.is_file():
        parser.error(f"--bot {args.bot}: no such file")
    BOT[0] = args.bot.resolve()
    TRANSPORT[0] = args.transport
    SERVE_FLAGS[:] = ["--relay-phone"] if args.relay_phone else []
    if args.transport == "twilio":
        from benchmarks.phone_callers import line_audio

        line_audio()  # the 8 kHz μ-law caller, made before any call starts
    if 1 not in args.calls:
        parser.error("--calls must include 1 (the baseline)")
    # Before any thread starts: Linux priorities are per thread, inherited by new threads.
    server_nice = raise_callers(args.caller_nice)
    setup(-1)  # no pinning: the server's processes and the callers share every core
    cpus = os.cpu_count() or 1
    load0 = os.getloadavg()
    log_dir = REPO / "out" / "serve_load"
    log_dir.mkdir(parents=True, exist_ok=True)
    rows = asyncio.run(bench(args, log_dir, server_nice))
    load1 = os.getloadavg()
    best, per_core = calls_per_core(rows, cpus)
    print_table(
        rows,
        f"voicebot serve, {BOT[0].name}, two_turns.wav over {args.transport}; "
        "caller voice-to-voice (ms); "
        f"load average {load0[0]:.2f} -> {load1[0]:.2f} on {cpus} CPUs ({cpu_model()})",
    )
    print_stages(rows)
    print(f"calls per core: {per_core:g} ({best} calls with p95 within 50 ms of N=1, 0 lost)")
    print("\n".join(fault_lines(rows)))
    path = save(
        args.name,
        {
            "config": {
                "bot": bot_config(BOT[0]),
                "transport": args.transport,
                "line": LINES[args.transport],
                "phone_media": "relayed by the supervisor"
                if args.relay_phone
                else "handed to the worker (socket handoff)",
                "callers_nice": args.caller_nice if server_nice is not None else "not permitted",
                "server_nice": server_nice,
                "wav": str(SPEECH_WAV.relative_to(REPO)),
                "n_list": sorted(args.calls),
                "workers": "W = N",
                "calls_per_worker": 1,
                "rounds": args.rounds,
                "stagger_secs": args.stagger,
                "fault_calls": args.fault_calls,
                "p95_slack_secs": P95_SLACK_SECS,
                "load_average_before": load0,
                "load_average_after": load1,
                "cpu_model": cpu_model(),
                "cpus": cpus,
                "git_commit": git_commit(),
            },
            "calls_per_core": per_core,
            "calls_within_slack": best,
            "runs": rows,
            "machine_at_end": machine(),
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
