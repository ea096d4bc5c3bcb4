"""Three ``voicebot serve`` hosts sharing one Redis, one host killed mid-call (issue #12,
item 4 and its Done-when: "the three-host run loses no call when one host is killed except
that host's own calls").

Setup. A ``redis-server`` on loopback; three hosts ``voicebot serve examples/fake_bot.py
--workers W --redis URL`` (each a supervisor and W warm workers; the bot is Silero VAD +
smart-turn with fake vendors of vendor-like delays, as in benchmarks/serve_load.py). Every
call is offered to host A (the entry, as a load balancer would pick one): A takes W calls,
and passes each call it has no room for to the registered host with the most room. The
callers (``voicebot.testing.webrtc_caller``, aiortc, in this process, each from its own
loopback address) play examples/audio/two_turns.wav (two questions) in real time; which
host owns a call is read from the registry (``voicebot:call:ID`` in Redis).

Runs (same hosts, same run):
- **calm**: ``--rounds`` rounds of N calls, nobody killed: the baseline;
- **kill**: one round of N calls; once every caller has heard its first reply, a host other
  than A that holds a call is killed outright (SIGKILL to its supervisor and its workers, as
  a machine that dies). Counted: the killed host's calls (lost, as they must be), calls lost
  on the hosts left (must be 0), their turns answered and voice-to-voice against the calm
  rounds. Meanwhile new calls are offered to A every ``--probe-every`` s (A is full, so each
  must go elsewhere) until one is answered by a host that is left: the time from the kill to
  that answer, and every refusal before it (must be within 5 s; since d9b4c08 a host that
  does not answer is skipped at once, before its registry key expires (3 s)).

Expected, before measuring: no loss outside the killed host; survivors' p95 within the
calm rounds' spread (their worker processes are untouched; the machine gets a little
quieter); the first new call placed within ~1 s (one failed connect to the dead host).

    .venv/bin/python -m benchmarks.serve_hosts [--workers 2] [--calls 4] [--rounds 2]

Writes benchmarks/results/serve_hosts.json (configuration, machine, every call).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from benchmarks.common import REPO, SPEECH_WAV, dist, machine, ms, save, setup, table
from benchmarks.serve_host import ServeProcess, bot_config, cpu_model, git_commit, wait_idle
from benchmarks.serve_load import FAKE_BOT, raise_callers

ROUND_BOUND_SECS = 180.0
PROBE_BOUND_SECS = 30.0


def owners(redis_url: str, pc_ids: list[str | None]) -> dict[str, str]:
    """Each call's owning host URL, from the registry."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        out = {}
        for pc_id in filter(None, pc_ids):
            host_id = client.get(f"voicebot:call:{pc_id}")
            if isinstance(host_id, bytes):
                host_id = host_id.decode()
            info = client.get(f"voicebot:host:{host_id}") if host_id else None
            if info is not None:
                out[pc_id] = str(json.loads(info)["url"]).rstrip("/") + "/"
        return out
    finally:
        client.close()


def kill_host(host: ServeProcess) -> list[int]:
    """SIGKILL the supervisor and its workers at once; their pids."""
    pids = [w["pid"] for w in host.status()["workers"] if w["pid"]]
    for pid in [host.proc.pid, *pids]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    host.proc.wait(30)
    return [host.proc.pid, *pids]


async def probe(entry: ServeProcess, killed_at: float, every: float) -> dict[str, Any]:
    """New calls to ``entry`` until one is answered (200 and connected)."""
    from voicebot.testing.webrtc_caller import WebRTCCaller

    tries: list[dict[str, Any]] = []
    k = 0
    while time.monotonic() - killed_at < PROBE_BOUND_SECS:
        caller = WebRTCCaller(entry.url or "", SPEECH_WAV, local_address=f"127.0.0.{60 + k}")
        k += 1
        status = await caller.call()
        connected = status == 200 and await caller.wait_connected(30.0)
        at = time.monotonic() - killed_at
        await caller.hang_up()
        tries.append({"after_kill_secs": at, "status": status, "detail": caller.report.detail})
        if connected:
            return {"placed_after_secs": at, "tries": tries}
        await asyncio.sleep(every)
    return {"placed_after_secs": None, "tries": tries}


async def one_round(
    hosts: list[ServeProcess], redis_url: str, n: int, stagger: float, *, kill: bool, every: float
) -> dict[str, Any]:
    """N calls offered to ``hosts[0]``; with ``kill``, a host holding a call (not the entry)
    is killed once every caller has heard its first reply."""
    from voicebot.testing.webrtc_caller import WebRTCCaller

    entry = hosts[0]
    callers: list[WebRTCCaller] = [
        WebRTCCaller(entry.url or "", SPEECH_WAV, local_address=f"127.0.0.{10 + i}")
        for i in range(n)
    ]

    where: dict[str, str] = {}  # call id -> its host, read as soon as it is placed

    async def call(i: int) -> Any:
        await asyncio.sleep(i * stagger)
        caller = callers[i]
        try:
            if await caller.call() == 200 and await caller.wait_connected(60.0):
                pc_id = [caller.report.pc_id]
                where.update(await asyncio.to_thread(owners, redis_url, pc_id))
                await caller.wait_done(linger_secs=1.5, max_wait_secs=20.0, stall_secs=5.0)
                await caller.server_view()
        finally:
            report = await caller.hang_up()
        return report

    async def killer() -> dict[str, Any]:
        deadline = time.monotonic() + ROUND_BOUND_SECS / 2
        while not all(c.report.status for c in callers) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        live = [c for c in callers if c.report.status == 200]
        await asyncio.gather(*(c.wait_heard(0, deadline - time.monotonic()) for c in live))
        victim = next((h for h in hosts[1:] if h.url in where.values()), None)
        if victim is None:
            return {"error": f"no host but the entry held a call: {where}"}
        pids = await asyncio.to_thread(kill_host, victim)
        killed_at = time.monotonic()
        probed = await probe(entry, killed_at, every)
        return {"host": victim.url, "pids": pids, **probed}

    fault = asyncio.create_task(killer()) if kill else None
    load0 = os.getloadavg()[0]
    reports = await asyncio.wait_for(asyncio.gather(*(call(i) for i in range(n))), ROUND_BOUND_SECS)
    killed = await asyncio.wait_for(fault, ROUND_BOUND_SECS) if fault is not None else None
    return {
        "n": n,
        "kill": killed,
        "load_avg": [load0, os.getloadavg()[0]],
        "calls": [
            {
                "host": where.get(r.pc_id or "", "?"),
                "status": r.status,
                "lost": r.lost,
                "lost_reason": r.lost_reason,
                "answered": r.answered,
                "turns": len(r.turns),
                "caller_v2v": r.voice_to_voice,
            }
            for r in reports
        ],
    }


def row(label: str, rounds: list[dict[str, Any]], killed_host: str | None) -> dict[str, Any]:
    """One table row: the calls on hosts that were not killed, and those on the killed one."""
    calls = [c for rnd in rounds for c in rnd["calls"]]
    kept = [c for c in calls if c["host"] != killed_host]
    on_killed = [c for c in calls if killed_host is not None and c["host"] == killed_host]
    return {
        "label": label,
        "calls": len(calls),
        "refused": sum(c["status"] != 200 for c in calls),
        "on_killed_host": len(on_killed),
        "lost_on_killed_host": sum(c["lost"] for c in on_killed),
        "lost_elsewhere": sum(c["lost"] for c in kept if c["status"] == 200),
        "turns_answered": sum(c["answered"] for c in kept),
        "turns_expected": sum(c["turns"] for c in kept if c["status"] == 200),
        "caller_v2v": dist([v for c in kept if not c["lost"] for v in c["caller_v2v"]]),
        "hosts_used": sorted({c["host"] for c in calls}),
    }


async def bench(args: argparse.Namespace, redis_url: str, log_dir: Path) -> dict[str, Any]:
    hosts = [
        ServeProcess(FAKE_BOT, args.workers, log_dir / f"host{i}.log", extra=["--redis", redis_url])
        for i in range(3)
    ]
    try:
        for h in hosts:
            await asyncio.to_thread(h.wait_ready)
        await asyncio.sleep(2.0)  # every host's first heartbeat is in the registry
        calm = []
        for _ in range(args.rounds):
            calm.append(
                await one_round(hosts, redis_url, args.calls, args.stagger, kill=False, every=0)
            )
            for h in hosts:
                await asyncio.to_thread(wait_idle, h)
        killed = await one_round(
            hosts, redis_url, args.calls, args.stagger, kill=True, every=args.probe_every
        )
    finally:
        for h in hosts:
            await asyncio.to_thread(h.stop)
    victim = (killed["kill"] or {}).get("host")
    return {
        "calm": calm,
        "killed": killed,
        "rows": [row("calm", calm, None), row("kill -9 one host", [killed], victim)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="warm workers per host")
    parser.add_argument("--calls", type=int, default=4, help="calls per round (via host A)")
    parser.add_argument("--rounds", type=int, default=2, help="calm rounds")
    parser.add_argument("--stagger", type=float, default=0.5, help="seconds between starts")
    parser.add_argument("--probe-every", type=float, default=0.5, help="s between new calls")
    parser.add_argument("--caller-nice", type=int, default=-10)
    args = parser.parse_args()
    if args.calls <= args.workers:
        parser.error("--calls must exceed --workers, so that host A passes calls on")
    from voicebot.testing.redis_server import local_redis

    server_nice = raise_callers(args.caller_nice)
    setup(-1)
    load0 = os.getloadavg()
    log_dir = REPO / "out" / "serve_hosts"
    log_dir.mkdir(parents=True, exist_ok=True)
    with local_redis() as redis_url:
        result = asyncio.run(bench(args, redis_url, log_dir))
    load1 = os.getloadavg()
    rows = result["rows"]
    print(
        table(
            ["run", "calls", "refused", "on killed host", "lost there", "lost elsewhere",
             "turns (others)", "v2v p50", "v2v p95", "hosts used"],
            [
                [r["label"], r["calls"], r["refused"], r["on_killed_host"],
                 r["lost_on_killed_host"], r["lost_elsewhere"],
                 f"{r['turns_answered']}/{r['turns_expected']}",
                 ms(r["caller_v2v"]["p50"], 0), ms(r["caller_v2v"]["p95"], 0),
                 len(r["hosts_used"])]
                for r in rows
            ],
            title=f"three serve hosts x {args.workers} workers, one Redis; {args.calls} calls "
            f"per round via host A; load {load0[0]:.2f} -> {load1[0]:.2f}",
        )
    )  # fmt: skip
    kill = result["killed"]["kill"] or {}
    tries = kill.get("tries", [])
    print(
        f"after the kill: first new call placed {ms(kill.get('placed_after_secs'), 0)} ms "
        f"after it; {len(tries) - 1 if tries else 0} refused before it "
        f"({', '.join(str(t['status']) for t in tries[:-1]) or 'none'})"
    )
    path = save(
        "serve_hosts",
        {
            "config": {
                "bot": bot_config(FAKE_BOT),
                "hosts": 3,
                "workers_per_host": args.workers,
                "calls_per_round": args.calls,
                "calm_rounds": args.rounds,
                "stagger_secs": args.stagger,
                "probe_every_secs": args.probe_every,
                "callers_nice": args.caller_nice if server_nice is not None else "not permitted",
                "wav": str(SPEECH_WAV.relative_to(REPO)),
                "load_average_before": load0,
                "load_average_after": load1,
                "cpu_model": cpu_model(),
                "cpus": os.cpu_count(),
                "git_commit": git_commit(),
            },
            **result,
            "machine_at_end": machine(),
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
