"""``voicebot serve``: warm worker processes, admission, isolation of calls, replacement of
a dead or hung worker, drain on SIGTERM, probes, metrics and the token.

Each test runs the real CLI (a supervisor and its worker processes, examples/fake_bot.py:
Silero + smart-turn with fake vendors) on loopback, with callers that connect over WebRTC.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.serving.conftest import FAKE_BOT, REPO, Caller, Served, eventually


def worker_pids(served: Served) -> dict[int, int]:
    return {w["index"]: w["pid"] for w in served.status()["workers"]}


async def test_calls_get_a_worker_each_and_beyond_capacity_a_503(
    serve: Callable[..., Served],
) -> None:
    served = serve(str(FAKE_BOT), "--workers", "2")
    assert served.get("healthz").status_code == 200
    assert served.get("readyz").status_code == 200
    # Garbage is refused before any worker sees it.
    garbage = httpx.post(f"{served.url}api/offer", json={"sdp": "garbage", "type": "offer"})
    assert garbage.status_code == 400 and "Traceback" not in garbage.text

    first, second, third = Caller(served), Caller(served), Caller(served)
    try:
        assert (await first.call()).status_code == 200
        assert (await second.call()).status_code == 200
        workers = await asyncio.to_thread(lambda: served.status()["workers"])
        assert sorted(w["calls"] for w in workers) == [1, 1]  # one call per process
        full = await third.call()
        assert full.status_code == 503 and full.headers["retry-after"]
        ready = await asyncio.to_thread(served.get, "readyz")
        assert ready.status_code == 503  # no warm worker has room
        assert await asyncio.to_thread(served.metric, "voicebot_calls_active") == 2
        assert await asyncio.to_thread(served.metric, "voicebot_call_starts_total") == 2
        refused = 'voicebot_calls_refused_total{reason="full"}'
        assert await asyncio.to_thread(served.metric, refused) == 1

        # Both callers hear their own bot greet them (each worker's pipeline runs).
        await first.wait_connected()
        await second.wait_connected()
        assert first.pc_id != second.pc_id
        # Hanging up frees the slot for the next caller.
        gone = await asyncio.to_thread(
            lambda: httpx.delete(f"{served.url}{first.session_path}", timeout=30)
        )
        assert gone.status_code == 200
        await eventually(
            "the hung-up call's slot is free",
            lambda: served.get("readyz").status_code == 200,
            served.log,
        )
        assert (await third.call()).status_code == 200
    finally:
        for caller in (first, second, third):
            await caller.hang_up()


async def test_a_killed_worker_loses_only_its_call_and_is_replaced(
    serve: Callable[..., Served],
) -> None:
    served = serve(str(FAKE_BOT), "--workers", "2")
    victim, survivor = Caller(served), Caller(served)
    try:
        assert (await victim.call()).status_code == 200
        assert (await survivor.call()).status_code == 200
        await victim.wait_connected()
        await survivor.wait_connected()
        workers = await asyncio.to_thread(lambda: served.status()["workers"])
        owner = next(w for w in workers if w["calls"] == 1 and w["pid"])
        by_call = {}
        for caller in (victim, survivor):
            view = await asyncio.to_thread(served.get, caller.session_path)
            assert view.status_code == 200 and view.json()["running"]
            by_call[caller.pc_id] = view
        # Which worker holds the victim's call is the supervisor's business: kill the
        # process that has one call, then see which caller lost it.
        os.kill(owner["pid"], signal.SIGKILL)
        await eventually(
            "the dead worker is replaced",
            lambda: all(
                w["ready"] and w["pid"] != owner["pid"] for w in served.status()["workers"]
            ),
            served.log,
        )
        views = {
            c.pc_id: (await asyncio.to_thread(served.get, c.session_path)).status_code
            for c in (victim, survivor)
        }
        assert sorted(views.values()) == [200, 404], views  # one call lost, one goes on
        alive = next(c for c in (victim, survivor) if views[c.pc_id] == 200)
        before = alive.audio_frames
        await eventually(
            "the other call still streams audio",
            lambda: alive.audio_frames > before + 25,
            served.log,
        )
        assert await asyncio.to_thread(served.metric, "voicebot_call_failures_total") == 1
        restarts = 'voicebot_worker_restarts_total{reason="died"}'
        assert await asyncio.to_thread(served.metric, restarts) == 1
    finally:
        await victim.hang_up()
        await survivor.hang_up()


async def test_a_hung_worker_is_detected_and_replaced(serve: Callable[..., Served]) -> None:
    served = serve(str(FAKE_BOT), "--workers", "1", "--hang-timeout", "3")
    pid = worker_pids(served)[0]
    os.kill(pid, signal.SIGSTOP)  # its event loop answers nothing from now on
    try:
        assert served.get("healthz").status_code == 200  # the supervisor itself is fine
        served.wait_for(
            "the hung worker is replaced",
            lambda: worker_pids(served)[0] != pid and served.status()["workers"][0]["ready"],
        )
        assert served.metric('voicebot_worker_restarts_total{reason="hung"}') == 1
    finally:
        with __import__("contextlib").suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


async def test_sigterm_drains_then_says_goodbye_and_exits_0(
    serve: Callable[..., Served],
) -> None:
    served = serve(str(FAKE_BOT), "--workers", "1", "--drain-timeout", "1")
    caller = Caller(served)
    try:
        assert (await caller.call()).status_code == 200
        await caller.wait_connected()
        served.proc.send_signal(signal.SIGTERM)
        await eventually(
            "readyz refuses while draining",
            lambda: served.get("readyz").status_code == 503,
            served.log,
        )
        refused = await Caller(served).call()
        assert refused.status_code == 503 and "shutting down" in refused.text
        loud_before = caller.loud_frames
        code = await asyncio.to_thread(served.proc.wait, 120)
        assert code == 0, served.log()
        assert "told goodbye" in served.log()
        assert caller.loud_frames > loud_before, "the goodbye was never heard"
    finally:
        await caller.hang_up()


def test_off_loopback_a_token_is_required_and_checked(
    serve: Callable[..., Served], tmp_path: Path
) -> None:
    refused = subprocess.run(
        [sys.executable, "-m", "voicebot.cli", "serve", str(FAKE_BOT), "--host", "0.0.0.0"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "VOICEBOT_SERVE_TOKEN": ""},
    )
    assert refused.returncode == 2 and "token" in refused.stderr, refused.stderr
    token = "test-token-0123456789abcdef"
    served = serve(str(FAKE_BOT), "--workers", "1", "--token", token)
    assert served.get("healthz", headers={}).status_code == 200  # probes need no token
    assert served.get("readyz", headers={}).status_code == 200
    wrong = {"Authorization": "Bearer not-the-token-at-all"}
    for path in ("api/status", "metrics", ""):
        assert served.get(path, headers={}).status_code == 401, path
        assert served.get(path, headers=wrong).status_code == 401, path
        assert served.get(path).status_code == 200, path
    for method, path in (
        ("POST", "api/offer"),
        ("PATCH", "api/offer"),
        ("GET", "api/sessions/x"),
        ("DELETE", "api/sessions/x"),
        ("GET", "openapi.json"),
        ("GET", "docs"),
    ):
        for headers in ({}, wrong):
            answer = httpx.request(method, f"{served.url}{path}", headers=headers, json={})
            assert answer.status_code in (401, 404), (method, path, answer.status_code)
            assert answer.status_code == 401 or path in ("openapi.json", "docs")
    assert served.get(f"?token={token}", headers={}).status_code == 200  # the page's link
    assert token not in served.log()  # never logged


def test_a_bot_whose_workers_cannot_start_fails_loudly(
    serve: Callable[..., Served], tmp_path: Path
) -> None:
    bot = tmp_path / "breaks_in_workers.py"
    bot.write_text(
        "import os\n"
        "from examples.fake_bot import bot as _bot\n"
        "if os.environ.get('PROMETHEUS_MULTIPROC_DIR'):  # only in a serve worker\n"
        "    raise RuntimeError('cannot load the model')\n"
        "bot = _bot\n"
    )
    served = serve(str(bot), "--workers", "1", wait=False, env={"PYTHONPATH": str(REPO)})
    code = served.proc.wait(240)
    assert code == 2, served.log()
    assert "could not start" in served.log() and "cannot load the model" in served.log()


async def test_a_worker_that_stopped_answering_gets_no_new_call(
    serve: Callable[..., Served],
) -> None:
    served = serve(str(FAKE_BOT), "--workers", "1", "--hang-timeout", "600")
    pid = worker_pids(served)[0]
    os.kill(pid, signal.SIGSTOP)
    try:
        await eventually(
            "readyz refuses while the only worker is silent",
            lambda: served.get("readyz").status_code == 503,
            served.log,
        )
        refused = await Caller(served).call()
        assert refused.status_code == 503  # at once, not a 502 after the worker's timeout
    finally:
        os.kill(pid, signal.SIGCONT)
    await eventually("readyz is back", lambda: served.get("readyz").status_code == 200, served.log)
    caller = Caller(served)
    try:
        assert (await caller.call()).status_code == 200
    finally:
        await caller.hang_up()


async def test_spoofed_forwarding_headers_do_not_lift_the_rate_limit(
    serve: Callable[..., Served],
) -> None:
    served = serve(str(FAKE_BOT), "--workers", "1", "--calls-per-worker", "4", "--per-client", "2")
    spoof = {"x-voicebot-forwarded": "anything", "x-voicebot-client": "10.9.9.9"}
    callers = [Caller(served, headers=spoof) for _ in range(3)]
    try:
        codes = [(await c.call()).status_code for c in callers]
        assert codes == [200, 200, 429], codes
    finally:
        for c in callers:
            await c.hang_up()


def test_workers_do_not_outlive_a_supervisor_killed_while_they_start(
    serve: Callable[..., Served],
) -> None:
    served = serve(str(FAKE_BOT), "--workers", "2", wait=False)
    parent = served.proc.pid

    def workers() -> list[int]:
        found = []
        for stat in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                argv = stat.read_bytes().split(b"\0")
            except OSError:
                continue
            if b"voicebot.server.worker" in argv and str(parent).encode() in argv:
                found.append(int(stat.parent.name))
        return found

    served.wait_for("the workers start", lambda: len(workers()) == 2)
    served.proc.kill()  # before they have loaded anything
    served.wait_for("the workers end with their supervisor", lambda: not workers())
