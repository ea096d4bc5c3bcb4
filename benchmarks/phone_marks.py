"""Barge-in truth on the phone: words kept in the context after a barge-in against words the
caller actually heard, with carrier playback marks and without them (the estimate from the
audio sent), for a few depths of carrier buffer.

Each call is a Twilio call from the fake carrier peer of the tests (tests/phone/peers.py,
tests/phone/marks_call.py) to ``voicebot serve``'s worker app on loopback serving
examples/fake_bot.py. The peer plays the bot's audio through a buffer of ``buffer_ms``
(audio queued at the carrier, not yet played: network, jitter buffer, its own queue), echoes
each mark when its audio has played, and returns the queued marks at once on a clear; the
caller speaks over the bot's first reply after ``speak_after`` seconds of it have arrived.
"Heard" is the peer's own record: the words whose audio had finished playing when the
``clear`` reached it (the words of the reply mapped to its audio as the fake TTS makes it,
``secs_per_char`` a character, with ``heard_prefix``). "Kept" is the bot's first assistant
message in the context, less the cut mark. Marks on and off are two workers, the same bot
(``Twilio(marks=...)``), run one after the other.

    python benchmarks/phone_marks.py                  # table; writes results/phone_marks.json
    python benchmarks/phone_marks.py --buffers 0 500 --speak-after 0.6 --repeats 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import socket
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import load_example  # noqa: E402
from tests.phone.marks_call import marked_call  # noqa: E402
from tests.phone.peers import TwilioPeer  # noqa: E402
from tests.phone.playout import RATE  # noqa: E402
from tests.phone.test_marks import CLAUSES, kept_words, words_within  # noqa: E402
from voicebot.processors.playback_marks import playback_marks  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


class Served:
    """A worker app serving ``bot`` on a loopback port, in a thread (as tests/phone do)."""

    def __init__(self, bot: Any) -> None:
        import uvicorn

        from voicebot.server.worker import build_app

        self.app = build_app(bot, calls=2, loopback_ice=False, ice_servers=[])
        self.sessions: dict[str, Any] = {}
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.sock, self.port = sock, sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(self.app, log_level="error", lifespan="on"))
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + 240
        while not (self.server.started and self.app.state.playground.ready.is_set()):
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the worker app did not start")
            time.sleep(0.1)
        playground = self.app.state.playground
        run_call = playground.run_call

        async def remembered(call_id: str, session: Any) -> Any:
            self.sessions[call_id] = session
            return await run_call(call_id, session)

        playground.run_call = remembered

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()


async def one_call(served: Served, buffer_ms: int, speak_after: float) -> dict[str, Any]:
    peer = TwilioPeer(path="/phone/ws/twilio")
    call_id = f"bench-{uuid.uuid4().hex[:8]}"
    url = f"ws://127.0.0.1:{served.port}{peer.path}?call_id={call_id}"
    call = await marked_call(url, peer, buffer_secs=buffer_ms / 1000, speak_after_secs=speak_after)
    deadline = time.monotonic() + 30
    while call_id not in served.sessions and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    session = served.sessions[call_id]
    kept = kept_words(session)
    replies = [m["content"] for m in session.context.get_messages() if m["role"] == "assistant"]
    marks = playback_marks(session.transport.output())
    playout = call.playout
    played_secs = (playout.played_at_clear or 0) / RATE
    heard = words_within(played_secs)
    return {
        "buffer_ms": buffer_ms,
        "speak_after_secs": speak_after,
        "kept": len(kept),
        "heard": len(heard),
        "error": len(kept) - len(heard),
        "played_secs": round(played_secs, 3),
        "received_secs": round(playout.received / RATE, 3),
        "confirmed_secs": round(playout.acknowledged_before_clear() / RATE, 3),
        "marks_sent": len(call.marks),
        "kept_text": " ".join(kept),
        "first_reply_in_context": replies[0] if replies else None,
        "cuts": [vars(c) for c in marks.cuts] if marks is not None else [],
    }


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    errors = [r["error"] for r in rows]
    return {
        "calls": len(rows),
        "kept": sum(r["kept"] for r in rows),
        "heard": sum(r["heard"] for r in rows),
        "unheard_kept": sum(max(0, e) for e in errors),  # words kept the caller never heard
        "heard_dropped": sum(max(0, -e) for e in errors),  # words heard but not kept
        "calls_with_unheard_words": sum(e > 0 for e in errors),
        "max_error": max(errors, key=abs) if errors else 0,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from voicebot.transports.phone import Twilio

    fake = load_example("fake_bot.py", "bench_phone_marks_fake_bot").bot
    results: dict[str, Any] = {}
    for marks in (True, False):
        served = Served(fake.replace(transport=Twilio(marks=marks, rest_hang_up=False)))
        rows = []
        try:
            for buffer_ms in args.buffers:
                for speak_after in args.speak_after:
                    for _ in range(args.repeats):
                        rows.append(await one_call(served, buffer_ms, speak_after))
        finally:
            served.stop()
        results["marks" if marks else "estimate"] = rows
    return results


def table(results: dict[str, Any], buffers: list[int]) -> list[str]:
    lines = [
        "| carrier buffer | mode | calls | words heard | words kept | unheard words kept | "
        "heard words dropped | calls keeping unheard words |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for buffer_ms in buffers:
        for mode in ("marks", "estimate"):
            rows = [r for r in results[mode] if r["buffer_ms"] == buffer_ms]
            s = summary(rows)
            lines.append(
                f"| {buffer_ms} ms | {mode} | {s['calls']} | {s['heard']} | {s['kept']} | "
                f"{s['unheard_kept']} | {s['heard_dropped']} | "
                f"{s['calls_with_unheard_words']} |"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--buffers", type=int, nargs="+", default=[0, 200, 500, 1000])
    parser.add_argument("--speak-after", type=float, nargs="+", default=[0.4, 0.8, 1.2])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS / "phone_marks.json")
    args = parser.parse_args()

    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="ERROR")
    started = time.time()
    results = asyncio.run(run(args))
    lines = table(results, args.buffers)
    print("\n".join(lines))
    out = {
        "benchmark": "phone_marks",
        "date": time.strftime("%Y-%m-%d", time.gmtime(started)),
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
        "configuration": {
            "bot": "examples/fake_bot.py (FakeTTS tone, secs_per_char per character)",
            "carrier": "Twilio, fake peer tests/phone/peers.py TwilioPeer (queued marks "
            "returned at once on clear)",
            "reply_clauses": CLAUSES,
            "buffers_ms": args.buffers,
            "speak_after_secs": args.speak_after,
            "repeats": args.repeats,
            "heard": "words whose audio had finished playing at the peer when the clear came",
            "kept": "the first assistant message in the context, less the cut mark",
        },
        "summary": {
            mode: {str(b): summary([r for r in rows if r["buffer_ms"] == b]) for b in args.buffers}
            for mode, rows in results.items()
        },
        "calls": results,
        "table": lines,
        "wall_secs": round(time.time() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
