"""CPU of a phone call's media hop with and without permessage-deflate, in one run.

The supervisor relays each carrier message (a Twilio ``media`` event: 20 ms of μ-law as
base64 in JSON, 50 a second) to a worker over a WebSocket on a Unix socket, and the bot's
audio back. This sends the same messages over a websockets client/server pair both ways,
compressed (what the websockets and uvicorn defaults negotiate) and not (what voicebot's
relay and servers do now), and counts the process's CPU time per simulated call-second.

    .venv/bin/python benchmarks/relay_deflate.py [--seconds 60] [--repeats 3]
    # prints a table, writes results/relay_deflate.json
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from streamdouble import g711
from websockets.asyncio.client import unix_connect
from websockets.asyncio.server import unix_serve

RESULTS = Path(__file__).resolve().parent / "results"
MESSAGES_PER_SECOND = 50  # 20 ms carrier frames


def media_messages(count: int, seed: int = 1) -> list[str]:
    """Twilio ``media`` events carrying speech-like μ-law (noise shaped by a slow envelope)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        envelope = 0.3 + 0.7 * abs(np.sin(i / 15))
        pcm = (rng.normal(0, 3000 * envelope, 160)).clip(-32768, 32767).astype(np.int16)
        ulaw = g711.encode(pcm)  # streamdouble's G.711, as the phone tests' callers use
        payload = base64.b64encode(ulaw).decode()
        out.append(
            json.dumps(
                {
                    "event": "media",
                    "sequenceNumber": str(i + 3),
                    "media": {
                        "track": "inbound",
                        "chunk": str(i + 1),
                        "timestamp": str(20 * i),
                        "payload": payload,
                    },
                    "streamSid": "MZ18ad3ab5a668481ce02b83e7395059f0",
                }
            )
        )
    return out


async def one_run(messages: list[str], compression: str | None) -> dict[str, float]:
    """Relay every message client -> server and the same count back; CPU of both ends."""
    done = asyncio.Event()

    async def handler(ws: Any) -> None:
        received = 0
        async for _ in ws:
            received += 1
            if received == len(messages):
                for m in messages:  # the bot's audio back, as many messages
                    await ws.send(m)
                done.set()
                return

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "w.sock")
        async with (
            unix_serve(handler, path, compression=compression, max_size=2**22),
            unix_connect(path, "ws://worker/", compression=compression) as ws,
        ):
            negotiated = [type(e).__name__ for e in ws.protocol.extensions]
            cpu0, wall0 = time.process_time(), time.perf_counter()
            for m in messages:
                await ws.send(m)
            back = 0
            async for _ in ws:
                back += 1
                if back == len(messages):
                    break
            await done.wait()
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    seconds = len(messages) / MESSAGES_PER_SECOND
    return {
        "cpu_s": cpu,
        "wall_s": wall,
        "cpu_ms_per_call_second": 1000 * cpu / seconds,
        "negotiated": negotiated,  # type: ignore[dict-item]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="simulated call length")
    parser.add_argument("--repeats", type=int, default=3, help="runs per setting, interleaved")
    parser.add_argument("--out", type=Path, default=RESULTS / "relay_deflate.json")
    opts = parser.parse_args()
    if opts.seconds <= 0 or opts.repeats < 1:
        parser.error("--seconds must be > 0 and --repeats >= 1")
    messages = media_messages(int(opts.seconds * MESSAGES_PER_SECOND))
    load_before = os.getloadavg()
    runs: dict[str, list[dict[str, Any]]] = {"deflate": [], "none": []}
    for _ in range(opts.repeats):  # interleaved, so drift in the host's load hits both
        runs["deflate"].append(asyncio.run(one_run(messages, "deflate")))
        runs["none"].append(asyncio.run(one_run(messages, None)))
    rows = {}
    print(f"{len(messages)} Twilio media messages each way ({opts.seconds:g} s of a call)")
    print(f"{'setting':10} {'negotiated':22} {'CPU ms per call-second (median)':>32}")
    for name, rs in runs.items():
        median = statistics.median(r["cpu_ms_per_call_second"] for r in rs)
        rows[name] = {"median_cpu_ms_per_call_second": round(median, 3), "runs": rs}
        print(f"{name:10} {','.join(rs[0]['negotiated']) or '-':22} {median:32.2f}")
    saved = (
        rows["deflate"]["median_cpu_ms_per_call_second"]
        - rows["none"]["median_cpu_ms_per_call_second"]
    )
    print(
        f"saved by no deflate: {saved:.2f} ms of CPU per call-second "
        f"({saved / 10:.2f} % of a core per call, one hop, both ends)"
    )
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    opts.out.write_text(
        json.dumps(
            {
                "config": {
                    "seconds": opts.seconds,
                    "messages_each_way": len(messages),
                    "repeats": opts.repeats,
                    "message_bytes": len(messages[0]),
                    "python": platform.python_version(),
                    "cpus": os.cpu_count(),
                    "loadavg_before": load_before,
                    "loadavg_after": os.getloadavg(),
                },
                "results": rows,
                "saved_cpu_ms_per_call_second": round(saved, 3),
            },
            indent=1,
        )
    )
    print(f"wrote {opts.out}")


if __name__ == "__main__":
    main()
