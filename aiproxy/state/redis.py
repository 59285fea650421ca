"""Shared state in Redis: one view for every worker and every instance.

Needs the `redis` extra (redis-py >= 5, its asyncio client). Every key starts
with the prefix, so several gateways (or tests) can share one Redis database.
Keys used, after the prefix:

    health:<account>     JSON AccountHealth, with a TTL when it has an `until`
    health:ids           set of account ids that may have a health key
    error:<account>      JSON LastError
    slots:<key>          sorted set: slot token → lease expiry (ms, Redis clock)
    bind:<session>       account id, with the binding's TTL
    last_used            hash: account id → epoch seconds
    win:<key>:<w>:<n>    count of the n-th window of w seconds
    float:<key>          float counter, with its TTL
"""

from __future__ import annotations

import json
import math
import secrets
import time
from typing import Any, Callable, Iterable

import redis.asyncio as aioredis

from .protocols import DEFAULT_PREFIX, AccountHealth, LastError

# Slots count time on the Redis server's clock (TIME inside the script), not
# the callers': leases then mean the same thing to processes on hosts whose
# clocks disagree, and the drop-count-add runs as one atomic step.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + lease, ARGV[3])
-- The set itself outlives its longest lease and no more, so an abandoned key vanishes.
if redis.call('PTTL', KEYS[1]) < lease then
  redis.call('PEXPIRE', KEYS[1], lease)
end
return 1
"""

_HELD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
"""

# Health marks are one key each with a TTL rather than one hash with per-field
# expiry: per-field expiry (HEXPIRE) needs Redis 7.4, keys with a TTL work on
# any Redis, and Redis itself then drops a lapsed mark. The id set spares a
# SCAN over the keyspace; this script reads all marks and prunes ids whose key
# has lapsed in one atomic step, so a mark set meanwhile cannot be pruned.
# (It builds key names from ARGV, so it is not Redis Cluster safe.)
_HEALTH = """
local ids = redis.call('SMEMBERS', KEYS[1])
local out = {}
for _, id in ipairs(ids) do
  local v = redis.call('GET', ARGV[1] .. id)
  if v then
    out[#out + 1] = id
    out[#out + 1] = v
  else
    redis.call('SREM', KEYS[1], id)
  end
end
return out
"""


class RedisState:
    def __init__(
        self,
        client: aioredis.Redis | str,
        prefix: str = DEFAULT_PREFIX,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # A URL makes a client we own (and close); a client handed in stays the
        # caller's, who may share it with other parts.
        if isinstance(client, str):
            self._redis: aioredis.Redis = aioredis.Redis.from_url(client)
            self._owns_client = True
        else:
            self._redis = client
            self._owns_client = False
        self.prefix = prefix
        self._clock = clock
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._held = self._redis.register_script(_HELD)
        self._health = self._redis.register_script(_HEALTH)

    def _k(self, *parts: object) -> str:
        return self.prefix + ":".join(str(p) for p in parts)

    # --- account health -------------------------------------------------
    async def mark_account(self, account_id: int, health: AccountHealth) -> None:
        key = self._k("health", account_id)
        ttl_ms: int | None = None
        if health.until is not None:
            ttl_ms = math.ceil((health.until - self._clock()) * 1000)
            if ttl_ms <= 0:  # already lapsed: the mark would mean nothing
                await self.clear_account(account_id)
                return
        value = json.dumps(
            {"state": health.state, "until": health.until, "reason": health.reason, "updated_at": health.updated_at}
        )
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(key, value, px=ttl_ms)
            pipe.sadd(self._k("health", "ids"), str(account_id))
            await pipe.execute()

    async def clear_account(self, account_id: int) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._k("health", account_id))
            pipe.srem(self._k("health", "ids"), str(account_id))
            await pipe.execute()

    async def account_health(self) -> dict[int, AccountHealth]:
        flat = await self._health(keys=[self._k("health", "ids")], args=[self._k("health", "")])
        now = self._clock()
        marks: dict[int, AccountHealth] = {}
        for i in range(0, len(flat), 2):
            d = json.loads(flat[i + 1])
            h = AccountHealth(state=d["state"], until=d["until"], reason=d["reason"], updated_at=d["updated_at"])
            # The TTL was rounded up to a millisecond; the stored `until` decides.
            if h.until is None or h.until > now:
                marks[int(_s(flat[i]))] = h
        return marks

    async def record_error(self, account_id: int, message: str) -> None:
        await self._redis.set(self._k("error", account_id), json.dumps({"message": message, "at": self._clock()}))

    async def last_error(self, account_id: int) -> LastError | None:
        raw = await self._redis.get(self._k("error", account_id))
        if raw is None:
            return None
        d = json.loads(raw)
        return LastError(message=d["message"], at=d["at"])

    # --- concurrency slots ----------------------------------------------
    async def acquire(self, key: str, limit: int, lease_seconds: float) -> str | None:
        token = secrets.token_hex(8)
        lease_ms = max(1, math.ceil(lease_seconds * 1000))
        got = await self._acquire(keys=[self._k("slots", key)], args=[limit, lease_ms, token])
        return token if int(got) == 1 else None

    async def release(self, key: str, token: str) -> None:
        await self._redis.zrem(self._k("slots", key), token)

    async def held(self, key: str) -> int:
        return int(await self._held(keys=[self._k("slots", key)]))

    # --- sticky session bindings ----------------------------------------
    async def get_binding(self, session: str) -> int | None:
        raw = await self._redis.get(self._k("bind", session))
        return int(raw) if raw is not None else None

    async def bind(self, session: str, account_id: int, ttl_seconds: float) -> None:
        await self._redis.set(self._k("bind", session), account_id, px=max(1, math.ceil(ttl_seconds * 1000)))

    async def unbind(self, session: str) -> None:
        await self._redis.delete(self._k("bind", session))

    # --- last used ------------------------------------------------------
    async def touch(self, account_id: int, at: float) -> None:
        # A plain overwrite: two processes touching at nearly the same moment
        # may leave the slightly older time, which no least-recently-used
        # choice can tell apart.
        await self._redis.hset(self._k("last_used"), str(account_id), repr(at))

    async def last_used(self, account_ids: Iterable[int]) -> dict[int, float]:
        ids = list(account_ids)
        if not ids:
            return {}
        values = await self._redis.hmget(self._k("last_used"), [str(a) for a in ids])
        return {a: float(v) for a, v in zip(ids, values) if v is not None}

    # --- windows and counters -------------------------------------------
    def _window(self, key: str, window_seconds: int) -> tuple[str, int]:
        """The running window's key, and the ms until it ends."""
        now = self._clock()
        index = math.floor(now / window_seconds)
        ends_in_ms = math.ceil(((index + 1) * window_seconds - now) * 1000)
        return self._k("win", key, window_seconds, index), ends_in_ms

    async def incr_window(self, key: str, window_seconds: int, amount: int = 1) -> int:
        win_key, ends_in_ms = self._window(key, window_seconds)
        # One MULTI: the count and its expiry land together, so no window key is
        # ever left without a TTL. A second's slack lets callers whose clocks
        # trail a little still find the window.
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incrby(win_key, amount)
            pipe.pexpire(win_key, ends_in_ms + 1000)
            total, _ = await pipe.execute()
        return int(total)

    async def get_window(self, key: str, window_seconds: int) -> int:
        raw = await self._redis.get(self._window(key, window_seconds)[0])
        return int(raw) if raw is not None else 0

    async def incr_float(self, key: str, amount: float, ttl_seconds: float) -> float:
        k = self._k("float", key)
        # SET NX gives the counter its TTL only when the key is new, and
        # INCRBYFLOAT keeps a key's TTL: the lifetime runs from the first add
        # and is not pushed back by later ones (a per-day key dies on its own).
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(k, 0, px=max(1, math.ceil(ttl_seconds * 1000)), nx=True)
            pipe.incrbyfloat(k, amount)
            _, total = await pipe.execute()
        return float(total)

    async def get_float(self, key: str) -> float:
        raw = await self._redis.get(self._k("float", key))
        return float(raw) if raw is not None else 0.0

    async def aclose(self) -> None:
        if self._owns_client:
            await self._redis.aclose()


def _s(v: Any) -> str:
    # The client may or may not decode responses; accept both.
    return v.decode() if isinstance(v, bytes) else str(v)
