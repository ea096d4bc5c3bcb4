"""The host registry re-announces a host's room as soon as it changes, not at the next
heartbeat: a host whose workers just warmed up must not look full to the others (a call
they could have placed there got a 503), nor one that just filled up look roomy."""

from __future__ import annotations

import asyncio
import json

from voicebot.server.hosts import HostRegistry

#: Far longer than the test's bound: only a nudge can refresh the entry in time.
SLOW_HEARTBEAT_SECS = 600.0
BOUND_SECS = 60.0


async def _free_in_redis(redis_url: str, host_id: str) -> int | None:
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    try:
        value = await client.get(f"voicebot:host:{host_id}")
        return None if value is None else int(json.loads(value)["free"])
    finally:
        await client.aclose()


async def _until_free(redis_url: str, host_id: str, free: int) -> None:
    async def poll() -> None:
        while await _free_in_redis(redis_url, host_id) != free:
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), BOUND_SECS)


async def test_a_change_of_room_is_announced_at_once(redis_url: str) -> None:
    room = {"free": 0}
    registry = HostRegistry(
        redis_url,
        "http://127.0.0.1:9/",
        describe=lambda: (2, room["free"], False),
        live_calls=lambda: [],
        host_id="nudged",
        ttl_secs=SLOW_HEARTBEAT_SECS,
        heartbeat_secs=SLOW_HEARTBEAT_SECS,
    )
    await registry.start()
    try:
        assert await _free_in_redis(redis_url, "nudged") == 0
        room["free"] = 2  # workers warm
        registry.nudge()
        await _until_free(redis_url, "nudged", 2)
        room["free"] = 1  # a call placed
        registry.nudge()
        await _until_free(redis_url, "nudged", 1)
    finally:
        await registry.stop()
    assert await _free_in_redis(redis_url, "nudged") is None  # a stopped host leaves at once
