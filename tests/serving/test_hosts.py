"""Several ``voicebot serve`` hosts sharing one Redis (a real redis-server on loopback): a
full host places a call on another, any host answers for a call another owns, and a host
that dies leaves the registry and takes no more calls."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable

import pytest

from tests.serving.conftest import FAKE_BOT, Caller, Served, eventually


def registry(redis_url: str) -> dict[str, dict[str, object]]:
    """The hosts in Redis, by URL."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match="voicebot:host:*"))
        values = [client.get(k) for k in keys]
        hosts = [json.loads(v) for v in values if v is not None]
        return {str(h["url"]).rstrip("/") + "/": h for h in hosts}
    finally:
        client.close()


def calls_on(served: Served) -> int:
    return int(served.status()["sessions"])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_three_hosts_share_calls_and_a_dead_host_leaves_the_registry(
    serve: Callable[..., Served], redis_url: str
) -> None:
    hosts = [
        serve(str(FAKE_BOT), "--workers", "1", "--redis", redis_url, wait=False) for _ in range(3)
    ]
    for host in hosts:
        host.wait_ready()
    a, b, c = hosts
    await eventually("three hosts registered", lambda: len(registry(redis_url)) == 3, a.log)
    assert set(registry(redis_url)) == {h.url for h in hosts}

    first, second = Caller(a), Caller(a)
    try:
        assert (await first.call()).status_code == 200
        await eventually("A counts its call", lambda: calls_on(a) == 1, a.log)
        # A is full: the offer it gets is placed on another host, and answered.
        assert (await second.call()).status_code == 200
        await second.wait_connected()
        owner = next(h for h in (b, c) if calls_on(h) == 1)
        other = c if owner is b else b
        assert calls_on(a) == 1 and calls_on(other) == 0
        # Any host answers for a call another host owns.
        for via in (a, other, owner):
            view = await asyncio.to_thread(via.get, second.session_path)
            assert view.status_code == 200 and view.json()["running"], (via.url, view.text)
        # A hang-up sent to A ends the call on its owner.
        gone = await asyncio.to_thread(
            lambda: __import__("httpx").delete(f"{a.url}{second.session_path}", timeout=30)
        )
        assert gone.status_code == 200, gone.text
        await eventually("the owner's call ended", lambda: calls_on(owner) == 0, owner.log)

        # Kill the owner outright: it leaves the registry by itself, and takes its
        # workers with it; new calls A cannot take go to the host that is left.
        workers = [w["pid"] for w in owner.status()["workers"]]
        owner.proc.kill()
        await eventually(
            "the killed host leaves the registry",
            lambda: set(registry(redis_url)) == {a.url, other.url},
            a.log,
        )
        await eventually(
            "its workers end with it", lambda: not any(alive(p) for p in workers), a.log
        )
        third = Caller(a)
        try:
            assert (await third.call()).status_code == 200
            await eventually("the call went to the host left", lambda: calls_on(other) == 1, a.log)
        finally:
            await third.hang_up()
    finally:
        await first.hang_up()
        await second.hang_up()


def test_a_redis_that_cannot_be_reached_is_one_line(serve: Callable[..., Served]) -> None:
    import subprocess
    import sys

    from tests.serving.conftest import REPO

    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "voicebot.cli",
            "serve",
            str(FAKE_BOT),
            "--redis",
            "redis://127.0.0.1:1/0",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2, run.stderr
    assert "cannot reach Redis" in run.stderr and "Traceback" not in run.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--advertise", "http://x:1"],
        ["--host", "0.0.0.0", "--token", "t" * 20, "--redis", "redis://127.0.0.1:1/0"],
    ],
)
def test_advertise_mistakes_are_refused(args: list[str]) -> None:
    import subprocess
    import sys

    from tests.serving.conftest import REPO

    run = subprocess.run(
        [sys.executable, "-m", "voicebot.cli", "serve", str(FAKE_BOT), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2 and "--advertise" in run.stderr, run.stderr


async def test_a_registered_host_that_does_not_answer_is_skipped(
    serve: Callable[..., Served],
) -> None:
    """A host killed outright stays in the registry until its key expires: a call placed on
    it meanwhile goes to the next host with room instead of failing (here the dead host is
    planted with the most room and a long expiry, so it is always picked first). A Redis of
    its own: the module's holds the earlier tests' hosts for up to their TTL."""
    from voicebot.testing.redis_server import local_redis

    with local_redis() as redis_url:
        await _dead_host_is_skipped(serve, redis_url)


async def _dead_host_is_skipped(serve: Callable[..., Served], redis_url: str) -> None:
    import redis

    from voicebot.testing.redis_server import free_port

    a, b = (
        serve(str(FAKE_BOT), "--workers", "1", "--redis", redis_url, wait=False) for _ in range(2)
    )
    a.wait_ready()
    b.wait_ready()
    await eventually("two hosts registered", lambda: len(registry(redis_url)) == 2, a.log)
    dead = {
        "id": "dead-host",
        "url": f"http://127.0.0.1:{free_port()}/",  # nothing listens there
        "capacity": 9,
        "free": 9,
        "draining": False,
    }
    client = redis.Redis.from_url(redis_url)
    try:
        client.set("voicebot:host:dead-host", json.dumps(dead), px=120_000)
        first, second = Caller(a), Caller(a)
        try:
            assert (await first.call()).status_code == 200
            await eventually("A counts its call", lambda: calls_on(a) == 1, a.log)
            # A's pool knows it is full (its worker's session count can lead its slots).
            await eventually("A is full", lambda: a.get("readyz").status_code == 503, a.log)
            answer = await second.call()  # A is full; the dead host looks roomiest
            assert answer.status_code == 200, answer.text
            await eventually("the call went to B", lambda: calls_on(b) == 1, a.log)
            assert "host dead-host could not take the call" in a.log()
        finally:
            await first.hang_up()
            await second.hang_up()
    finally:
        client.delete("voicebot:host:dead-host")
        client.close()
