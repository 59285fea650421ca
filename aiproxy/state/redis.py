"""Shared state in Redis: one view for every worker and every instance.

Needs the `redis` extra (redis-py >= 5, its asyncio client). Every key starts
with the prefix, so several gateways (or tests) can share one Redis database.
Keys used, after the prefix:

    health:<account>     JSON AccountHealth, with a TTL when it has an `until`
    health:ids           set of account ids that may have a health key
    error:<account>      JSON LastError
    slots:<key>          sorted set: slot token → lease expiry (ms, Redis clock)
    bind:<session>       account id, with the binding's TTL
    resp:<response id>   the account that made a stored Responses answer, with its TTL
    login:<login id>     a pending OAuth login, sealed by the gateway's cipher, with its TTL
    invalidate           pub/sub channel: other instances' changes (state/invalidation.py)
    last_used            hash: account id → epoch seconds
    win:<key>:<w>:<n>    count of the n-th window of w seconds
    float:<key>          float counter, with its TTL

Made from a URL, the client has short timeouts (`timeout`, 0.5 s by default,
for connecting and for each answer) and retries a command once, on a fresh
connection, only after a connection error: a pooled connection that went
stale when Redis restarted costs no request, while a frozen Redis costs one
timeout, not redis-py's default of ten retries with backoff.

Concurrency slots are leased briefly (seconds) and renewed while held: this
process remembers the slots it holds, and one background task renews them all
in one script call every third of a lease. A release that could not be sent
(Redis down, the caller cancelled), and the token of an acquire whose answer
never came (the script may still run after the client gave up), are sent
later by that same task, so no slot outlives its holder by more than a lease.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import secrets
import time
from typing import Any, Callable, Iterable

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

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

# Renews this process's slots and drops the tokens it gave up, in one call.
# KEYS[1..n]: the sets of held slots, then the sets of tokens to drop.
# ARGV: n, then n (token, lease ms) pairs, then the tokens to drop.
# A slot that already lapsed is not brought back: its holder lost it.
_UPKEEP = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = tonumber(ARGV[1])
local renewed = 0
for i = 1, n do
  local token = ARGV[2 * i]
  local lease = tonumber(ARGV[2 * i + 1])
  local expiry = redis.call('ZSCORE', KEYS[i], token)
  if expiry and tonumber(expiry) > now then
    redis.call('ZADD', KEYS[i], 'XX', now + lease, token)
    if redis.call('PTTL', KEYS[i]) < lease then
      redis.call('PEXPIRE', KEYS[i], lease)
    end
    renewed = renewed + 1
  end
end
for i = n + 1, #KEYS do
  redis.call('ZREM', KEYS[i], ARGV[n + 1 + i])
end
return renewed
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


log = logging.getLogger("aiproxy.state")

# What a Redis that is down, frozen or refusing raises: the calls the
# ResilientState then serves from process-local state.
FAILURES: tuple[type[BaseException], ...] = (RedisError, OSError, asyncio.TimeoutError)

# A dropped token is sent this many times, a beat apart: the acquire it undoes
# may run on Redis after the first drop (a frozen Redis reads the script it
# was sent only when it wakes up, in whatever order it serves its clients).
_DROP_SENDS = 2
_DROP_EVERY = 1.0


class RedisState:
    # Slots this process holds are renewed while held (see the module's doc),
    # so holders may ask for leases of seconds.
    renews_leases = True

    def __init__(
        self,
        client: aioredis.Redis | str,
        prefix: str = DEFAULT_PREFIX,
        clock: Callable[[], float] = time.time,
        *,
        timeout: float = 0.5,
    ) -> None:
        # A URL makes a client we own (and close); a client handed in stays the
        # caller's, who may share it with other parts (its timeouts are theirs).
        if isinstance(client, str):
            self._redis: aioredis.Redis = aioredis.Redis.from_url(
                client,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                # Once, at once, and only for connection errors (a stale pooled
                # connection): a timeout is not retried, it opens the breaker.
                retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
            )
            self._owns_client = True
        else:
            self._redis = client
            self._owns_client = False
        self.prefix = prefix
        self._clock = clock
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._held = self._redis.register_script(_HELD)
        self._health = self._redis.register_script(_HEALTH)
        self._upkeep_script = self._redis.register_script(_UPKEEP)
        # Slots this process holds: token → (slot set, lease ms); and tokens to
        # drop: token → [slot set, times sent]. Plain dicts: no round trip.
        self._holding: dict[str, tuple[str, int]] = {}
        self._dropping: dict[str, list[Any]] = {}
        self._renew_every = math.inf  # a third of the shortest lease asked for
        self._upkeep_task: asyncio.Task[None] | None = None

    @property
    def client(self) -> aioredis.Redis:
        """The Redis client this state talks through (shared with the invalidation channel)."""
        return self._redis

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
        # The token exists before the call: should the answer never come, the
        # slot it may have taken can still be named, and dropped.
        token = secrets.token_hex(8)
        slots = self._k("slots", key)
        lease_ms = max(1, math.ceil(lease_seconds * 1000))
        try:
            got = await self._acquire(keys=[slots], args=[limit, lease_ms, token])
        except BaseException:
            self.release_later(slots, token, prefixed=True)
            raise
        if int(got) != 1:
            return None
        self._holding[token] = (slots, lease_ms)
        if lease_seconds / 3 < self._renew_every:
            self._renew_every = lease_seconds / 3
        self._keep_up()
        return token

    async def release(self, key: str, token: str) -> None:
        slots = self._k("slots", key)
        self._holding.pop(token, None)
        try:
            await self._redis.zrem(slots, token)
        except BaseException:
            self.release_later(slots, token, prefixed=True)
            raise

    def release_later(self, key: str, token: str, *, prefixed: bool = False) -> None:
        """Drop the slot `token` of `key` off the request path (background task), without a round trip now."""
        slots = key if prefixed else self._k("slots", key)
        self._holding.pop(token, None)
        self._dropping[token] = [slots, 0]
        self._keep_up()

    async def held(self, key: str) -> int:
        return int(await self._held(keys=[self._k("slots", key)]))

    def holding(self) -> int:
        """How many slots this process holds (and renews)."""
        return len(self._holding)

    async def upkeep(self) -> int:
        """Renew every slot this process holds and send pending drops, in one call; how many were renewed."""
        holding = list(self._holding.items())
        dropping = list(self._dropping.items())
        if not holding and not dropping:
            return 0
        keys = [slots for _, (slots, _) in holding] + [entry[0] for _, entry in dropping]
        args: list[Any] = [len(holding)]
        for token, (_, lease_ms) in holding:
            args += [token, lease_ms]
        args += [token for token, _ in dropping]
        renewed = await self._upkeep_script(keys=keys, args=args)
        for token, entry in dropping:
            entry[1] += 1
            if entry[1] >= _DROP_SENDS and self._dropping.get(token) is entry:
                del self._dropping[token]
        return int(renewed)

    def _keep_up(self) -> None:
        # One task per process, started on first need and ending when nothing
        # is held or pending; a check of a flag on the path, never a round trip.
        task = self._upkeep_task
        if task is None or task.done():
            self._upkeep_task = asyncio.get_running_loop().create_task(self._upkeep_loop())

    async def _upkeep_loop(self) -> None:
        while self._holding or self._dropping:
            await asyncio.sleep(_DROP_EVERY if self._dropping and _DROP_EVERY < self._renew_every else self._renew_every)
            try:
                await self.upkeep()
            except FAILURES as exc:
                # Tried again next round; the breaker (ResilientState) logs outages.
                log.debug("slot upkeep failed: %s", exc)

    # --- sticky session bindings ----------------------------------------
    async def get_binding(self, session: str) -> int | None:
        raw = await self._redis.get(self._k("bind", session))
        return int(raw) if raw is not None else None

    async def bind(self, session: str, account_id: int, ttl_seconds: float) -> None:
        await self._redis.set(self._k("bind", session), account_id, px=max(1, math.ceil(ttl_seconds * 1000)))

    async def unbind(self, session: str) -> None:
        await self._redis.delete(self._k("bind", session))

    # --- which account made a stored response ---------------------------
    async def remember_response(self, response_id: str, account_id: int, ttl_seconds: float) -> None:
        # One key each with its own TTL (SET PX): Redis drops lapsed ones itself.
        await self._redis.set(self._k("resp", response_id), account_id, px=max(1, math.ceil(ttl_seconds * 1000)))

    async def response_account(self, response_id: str) -> int | None:
        raw = await self._redis.get(self._k("resp", response_id))
        return int(raw) if raw is not None else None

    # --- pending OAuth logins --------------------------------------------
    async def keep_login(self, login_id: str, sealed: str, ttl_seconds: float) -> bool:
        # No cap here: each key lapses by itself, and only admins start logins.
        await self._redis.set(self._k("login", login_id), sealed, px=max(1, math.ceil(ttl_seconds * 1000)))
        return True

    async def pending_login(self, login_id: str) -> str | None:
        raw = await self._redis.get(self._k("login", login_id))
        return _s(raw) if raw is not None else None

    async def drop_login(self, login_id: str) -> None:
        await self._redis.delete(self._k("login", login_id))

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

    async def ping(self) -> None:
        await self._redis.ping()

    async def aclose(self) -> None:
        task, self._upkeep_task = self._upkeep_task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])  # its end, without taking on its cancellation
        if self._dropping:
            # Last chance to hand slots back before the process goes; a lease expires them otherwise.
            self._holding.clear()
            try:
                await self.upkeep()
            except FAILURES:
                pass
        if self._owns_client:
            await self._redis.aclose()


def _s(v: Any) -> str:
    # The client may or may not decode responses; accept both.
    return v.decode() if isinstance(v, bytes) else str(v)
