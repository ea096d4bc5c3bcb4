"""Many ``voicebot serve`` hosts sharing one Redis: who is up, who has room, who owns a call.

    voicebot serve bot.py --host 0.0.0.0 --redis redis://redis:6379/0 \\
        --advertise http://10.1.2.3:7860 --token ...

Each host writes, every ``HEARTBEAT_SECS`` and whenever its room changes, a key
``{prefix}host:{id}`` (its URL, capacity, free slots, whether it drains) that expires
after ``HOST_TTL_SECS``: a host that stops heart-beating (killed, partitioned) drops out
of the registry within that time, with no one having to notice it. Each live call gets
``{prefix}call:{call id}`` → the host's id, with the same expiry, refreshed by the owner's
heartbeat. With that, any host can

- **place a new call elsewhere** when it has no room itself: the offer is passed to the
  host with the most free slots (``pick``), once (a passed-on request is never passed on
  again), and the caller gets that host's answer;
- **pass on a request about a call it does not own** (ICE candidates, transcript, hang-up)
  to the host that does: a load balancer may send a call's later requests anywhere, and a
  full or draining host is out of the balancer's rotation while its calls go on.

Hosts reach each other on their ``--advertise`` URLs with the shared token, marking what
they pass on with a secret kept in Redis (a browser, which has the token, does not have it).
Redis is Debian's ``redis-server`` (or a managed one); the ``redis`` extra provides the
client. This is state and routing only: each host still runs its own calls
(docs/serving.md, "Many hosts").
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any

from loguru import logger

from voicebot.errors import ConfigError

HEARTBEAT_SECS = 1.0
#: A host (and its calls) that has not heart-beaten for this long is gone.
HOST_TTL_SECS = 3.0
#: The header on a request one host passes to another (never passed on again).
FORWARDED_HEADER = "x-voicebot-forwarded"


@dataclass(frozen=True)
class HostInfo:
    """One host as the registry shows it."""

    id: str
    url: str
    capacity: int
    free: int
    draining: bool

    def to_json(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def from_json(cls, text: str | bytes) -> HostInfo:
        data = json.loads(text)
        return cls(
            id=str(data["id"]),
            url=str(data["url"]),
            capacity=int(data["capacity"]),
            free=int(data["free"]),
            draining=bool(data["draining"]),
        )


class HostRegistry:
    """This host's entry in Redis, its calls, and lookups of the others (see module doc).

    ``describe()`` gives this host's capacity, free slots and draining flag, and
    ``live_calls()`` its calls, when the heartbeat runs.
    """

    def __init__(
        self,
        redis_url: str,
        url: str,
        *,
        describe: Callable[[], tuple[int, int, bool]],
        live_calls: Callable[[], Iterable[str]],
        prefix: str = "voicebot:",
        host_id: str | None = None,
        ttl_secs: float = HOST_TTL_SECS,
        heartbeat_secs: float = HEARTBEAT_SECS,
    ) -> None:
        try:
            from redis.asyncio import Redis
        except ImportError as e:
            raise ConfigError(
                '--redis needs the redis client: pip install "voicebot[redis]"'
            ) from e
        self.url = url.rstrip("/")
        self.id = host_id or secrets.token_hex(6)
        self.prefix = prefix
        self.ttl_ms = int(ttl_secs * 1000)
        self.heartbeat_secs = heartbeat_secs
        self.describe = describe
        self.live_calls = live_calls
        self._redis: Any = Redis.from_url(redis_url, socket_timeout=2.0)
        #: Shared by every host (kept in Redis): marks a request one host passes to another.
        self.peer_secret = ""
        self._task: asyncio.Task[None] | None = None
        self._nudged = asyncio.Event()

    # ---- this host -----------------------------------------------------------------------

    async def start(self) -> None:
        """Register now (a Redis that cannot be reached is a ``ConfigError``), then keep
        the entry fresh in the background."""
        try:
            key = f"{self.prefix}peer-secret"
            await self._redis.set(key, secrets.token_urlsafe(32), nx=True)
            value = await self._redis.get(key)
            self.peer_secret = value.decode() if isinstance(value, bytes) else str(value)
            await self.beat()
        except Exception as e:
            raise ConfigError(f"--redis: cannot reach Redis: {type(e).__name__}: {e}") from e
        self._task = asyncio.create_task(self._beat_forever(), name="voicebot host registry")

    async def stop(self) -> None:
        """Leave the registry at once (a drained host should get no more calls)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self._redis.delete(self._host_key(self.id))
        await self._redis.aclose()

    async def beat(self) -> None:
        capacity, free, draining = self.describe()
        info = HostInfo(self.id, self.url, capacity, free, draining)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(self._host_key(self.id), info.to_json(), px=self.ttl_ms)
            for call in self.live_calls():
                pipe.set(self._call_key(call), self.id, px=self.ttl_ms)
            await pipe.execute()

    def nudge(self) -> None:
        """Re-announce now rather than at the next heartbeat: room opened or filled (a host
        whose workers just warmed up would otherwise look full to the others for up to
        ``HEARTBEAT_SECS``, and one that just filled up would still look roomy)."""
        self._nudged.set()

    async def claim(self, call_id: str) -> None:
        """Record a call placed here before the next heartbeat would."""
        with contextlib.suppress(Exception):
            await self._redis.set(self._call_key(call_id), self.id, px=self.ttl_ms)

    async def _beat_forever(self) -> None:
        failing = False
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._nudged.wait(), self.heartbeat_secs)
            self._nudged.clear()
            start = time.monotonic()
            try:
                await self.beat()
            except Exception as e:  # Redis away: keep serving our own calls, say so once
                if not failing:
                    logger.warning(f"serve: host registry: Redis unreachable: {e}")
                failing = True
                continue
            if failing:
                logger.info("serve: host registry: Redis reachable again")
            failing = False
            if time.monotonic() - start > self.ttl_ms / 2000:
                logger.warning("serve: host registry: a heartbeat took over half the TTL")

    # ---- the others ------------------------------------------------------------------------

    async def hosts(self) -> list[HostInfo]:
        """Every registered host, this one included."""
        keys = [k async for k in self._redis.scan_iter(match=self._host_key("*"), count=100)]
        if not keys:
            return []
        found = []
        for value in await self._redis.mget(keys):
            if value is not None:
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    found.append(HostInfo.from_json(value))
        return sorted(found, key=lambda h: h.id)

    async def pick(self, avoid: Collection[str] = ()) -> HostInfo | None:
        """Another host with room (the most free slots), or None; not one in ``avoid`` (ids
        of hosts that just failed to answer: a killed host stays registered up to the TTL)."""
        others = [h for h in await self.hosts() if h.id != self.id and h.id not in avoid]
        room = [h for h in others if h.free > 0 and not h.draining]
        return max(room, key=lambda h: (h.free, h.id)) if room else None

    async def owner(self, call_id: str) -> HostInfo | None:
        """The live host that owns ``call_id``, if another host does."""
        host_id = await self._redis.get(self._call_key(call_id))
        if host_id is None:
            return None
        host_id = host_id.decode() if isinstance(host_id, bytes) else str(host_id)
        if host_id == self.id:
            return None
        value = await self._redis.get(self._host_key(host_id))
        return HostInfo.from_json(value) if value is not None else None

    def _host_key(self, host_id: str) -> str:
        return f"{self.prefix}host:{host_id}"

    def _call_key(self, call_id: str) -> str:
        return f"{self.prefix}call:{call_id}"
