"""``RedisStore``: memory in Redis, through the ``redis`` package's asyncio client.

Keys (under ``prefix``, default ``voicebot:``)::

    facts:<user>            list of facts, oldest first
    factset:<user>          the same facts as a set, so a fact is stored once
    sessions:<user>         list of the user's session ids, oldest first
    sessionset:<user>       the same ids as a set
    transcript:<session>    list of JSON entries

Each write is one Lua script, which Redis runs atomically: a fact is in both the list and
the set or in neither, and a batch of transcript entries lands whole.

With ``retention_days``, every write sets the time to live of the keys it touches: a user's
facts expire together that long after the last fact was stored, a session's transcript that
long after it was saved, the list of sessions with the newest one. ``forget(user_id)``
deletes all of a user's keys in one script.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from voicebot.errors import MissingExtraError
from voicebot.memory.store import SessionTranscript, clean_fact, retention_secs
from voicebot.redaction import redact, redact_value, register

# ARGV[1] of the writes is the time to live in milliseconds; 0 keeps the keys for good.
_PUT_FACT = """
local added = 0
if redis.call('SADD', KEYS[1], ARGV[2]) == 1 then
    redis.call('RPUSH', KEYS[2], ARGV[2])
    added = 1
end
local ttl = tonumber(ARGV[1])
if ttl > 0 then
    redis.call('PEXPIRE', KEYS[1], ttl)
    redis.call('PEXPIRE', KEYS[2], ttl)
end
return added
"""

_APPEND = """
if redis.call('SADD', KEYS[1], ARGV[2]) == 1 then
    redis.call('RPUSH', KEYS[2], ARGV[2])
end
for i = 3, #ARGV do
    redis.call('RPUSH', KEYS[3], ARGV[i])
end
local ttl = tonumber(ARGV[1])
if ttl > 0 then
    for i = 1, 3 do
        redis.call('PEXPIRE', KEYS[i], ttl)
    end
end
return #ARGV - 2
"""

# KEYS: facts, factset, sessions, sessionset; ARGV[1]: the prefix of transcript keys.
_FORGET = """
local deleted = redis.call('LLEN', KEYS[1])
for _, session_id in ipairs(redis.call('LRANGE', KEYS[3], 0, -1)) do
    local key = ARGV[1] .. session_id
    deleted = deleted + redis.call('LLEN', key)
    redis.call('DEL', key)
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
return deleted
"""


class RedisStore:
    """A ``MemoryStore`` on the Redis server at ``url`` (``redis://host:port/db``).

    ``retention_days``: the keys' time to live, renewed by each write (``None``, the
    default: no expiry). A password in ``url`` is masked in every output.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = "voicebot:",
        retention_days: float | None = None,
    ):
        try:
            import redis.asyncio as aioredis
        except ImportError:
            raise MissingExtraError(
                'RedisStore needs redis, which is not installed: pip install "voicebot[redis]"'
            ) from None
        secs = retention_secs(retention_days)
        register(urlsplit(url).password)
        self.url = url
        self.prefix = prefix
        self.retention_days = retention_days
        self._ttl_ms = 0 if secs is None else max(1, round(secs * 1000))
        self._client: Any = aioredis.from_url(url, decode_responses=True)

    def __repr__(self) -> str:
        return f"RedisStore({redact(self.url)!r})"

    def _key(self, kind: str, name: str) -> str:
        return f"{self.prefix}{kind}:{name}"

    async def get_facts(self, user_id: str) -> list[str]:
        return list(await self._client.lrange(self._key("facts", user_id), 0, -1))

    async def put_fact(self, user_id: str, fact: str) -> bool:
        keys = [self._key("factset", user_id), self._key("facts", user_id)]
        text = redact(clean_fact(fact))
        added = await self._client.eval(_PUT_FACT, len(keys), *keys, self._ttl_ms, text)
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
        lines = [json.dumps(redact_value(dict(e)), default=str) for e in entries]
        await self._client.eval(_APPEND, len(keys), *keys, self._ttl_ms, session_id, *lines)

    async def read_transcripts(
        self, user_id: str, *, limit: int | None = None
    ) -> list[SessionTranscript]:
        start = -limit if limit else 0
        ids = await self._client.lrange(self._key("sessions", user_id), start, -1)
        out = []
        for session_id in ids:
            lines = await self._client.lrange(self._key("transcript", session_id), 0, -1)
            if lines:  # none: the transcript has expired (or was forgotten meanwhile)
                out.append(SessionTranscript(session_id, [json.loads(line) for line in lines]))
        return out

    async def forget(self, user_id: str) -> int:
        """Delete the user's facts, session list and transcripts; how many facts and
        transcript entries there were."""
        keys = [
            self._key("facts", user_id),
            self._key("factset", user_id),
            self._key("sessions", user_id),
            self._key("sessionset", user_id),
        ]
        deleted = await self._client.eval(_FORGET, len(keys), *keys, self._key("transcript", ""))
        return int(deleted)

    async def close(self) -> None:
        await self._client.aclose()
