"""``RedisStore``: memory in Redis, through the ``redis`` package's asyncio client.

Keys (under ``prefix``, default ``voicebot:``)::

    facts:<user>            list of facts, oldest first
    factset:<user>          the same facts as a set, so a fact is stored once
    sessions:<user>         list of the user's session ids, oldest first
    sessionset:<user>       the same ids as a set
    transcript:<session>    list of JSON entries

Each write is one Lua script, which Redis runs atomically: a fact is in both the list and
the set or in neither, and a batch of transcript entries lands whole.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from voicebot.errors import MissingExtraError
from voicebot.memory.store import SessionTranscript, clean_fact

_PUT_FACT = """
if redis.call('SADD', KEYS[1], ARGV[1]) == 1 then
    redis.call('RPUSH', KEYS[2], ARGV[1])
    return 1
end
return 0
"""

_APPEND = """
if redis.call('SADD', KEYS[1], ARGV[1]) == 1 then
    redis.call('RPUSH', KEYS[2], ARGV[1])
end
for i = 2, #ARGV do
    redis.call('RPUSH', KEYS[3], ARGV[i])
end
return #ARGV - 1
"""


class RedisStore:
    """A ``MemoryStore`` on the Redis server at ``url`` (``redis://host:port/db``)."""

    def __init__(self, url: str = "redis://127.0.0.1:6379/0", *, prefix: str = "voicebot:"):
        try:
            import redis.asyncio as aioredis
        except ImportError:
            raise MissingExtraError(
                'RedisStore needs redis, which is not installed: pip install "voicebot[redis]"'
            ) from None
        self.url = url
        self.prefix = prefix
        self._client: Any = aioredis.from_url(url, decode_responses=True)

    def __repr__(self) -> str:
        return f"RedisStore({self.url!r})"

    def _key(self, kind: str, name: str) -> str:
        return f"{self.prefix}{kind}:{name}"

    async def get_facts(self, user_id: str) -> list[str]:
        return list(await self._client.lrange(self._key("facts", user_id), 0, -1))

    async def put_fact(self, user_id: str, fact: str) -> bool:
        keys = [self._key("factset", user_id), self._key("facts", user_id)]
        added = await self._client.eval(_PUT_FACT, len(keys), *keys, clean_fact(fact))
        return bool(added)

    async def append_transcript(
        self, user_id: str, session_id: str, entries: Sequence[Mapping[str, Any]]
    ) -> None:
        if not entries:
            return
        keys = [
            self._key("sessionset", user_id),
            self._key("sessions", user_id),
            self._key("transcript", session_id),
        ]
        lines = [json.dumps(dict(e), default=str) for e in entries]
        await self._client.eval(_APPEND, len(keys), *keys, session_id, *lines)

    async def read_transcripts(
        self, user_id: str, *, limit: int | None = None
    ) -> list[SessionTranscript]:
        start = -limit if limit else 0
        ids = await self._client.lrange(self._key("sessions", user_id), start, -1)
        out = []
        for session_id in ids:
            lines = await self._client.lrange(self._key("transcript", session_id), 0, -1)
            out.append(SessionTranscript(session_id, [json.loads(line) for line in lines]))
        return out

    async def close(self) -> None:
        await self._client.aclose()
