"""Shared state that survives its store's outage: Redis while it answers, this process's memory while not.

`ResilientState` is a SharedState over a primary (RedisState), a fallback
(MemoryState) and a CircuitBreaker. While the breaker is closed every call
goes to the primary, as before: no extra round trip, one float comparison.
A call that fails (connection refused, a timeout) opens the breaker and is
answered by the fallback; so are all calls during the cool-down. The gateway
then keeps serving on process-local state: health marks (seeded with the
last marks Redis gave), sticky sessions, remembered response ids, rpm
windows and concurrency slots held per process, counters counted per
process. When the probe after the cool-down answers, the primary is used
again; what was counted locally stays local (the outage's rpm and cost are
not replayed into Redis).

Slots: a slot taken on the fallback carries a `local:` token and is released
there whatever the breaker says; a slot taken on Redis whose release cannot
be sent now is handed to the RedisState to drop later (its lease expires it
in seconds in any case).

`strict()` is the same state that refuses instead of falling back: its calls
raise StateUnavailable while the primary does not answer. The quota checks
of quota-limited keys use it when failure mode is `closed`.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Iterable, TypeVar

from .breaker import PROBE, CircuitBreaker
from .memory import MemoryState
from .protocols import AccountHealth, LastError, StateUnavailable

T = TypeVar("T")

LOCAL_TOKEN = "local:"


class _Memo:
    def __init__(self) -> None:
        self.health: dict[int, AccountHealth] = {}


class ResilientState:
    renews_leases = True

    def __init__(
        self,
        primary: Any,
        fallback: MemoryState,
        breaker: CircuitBreaker,
        *,
        failures: tuple[type[BaseException], ...],
        local_lease: float = 1800.0,
    ) -> None:
        # `primary` is a SharedState with release_later() and ping() (RedisState);
        # `failures` what it raises when its store does not answer.
        self.primary = primary
        self.fallback = fallback
        self.breaker = breaker
        self.prefix = primary.prefix
        self._failures = failures
        # Local slots are not renewed (the process that holds them is the one
        # alive): their lease is long, a guard against a holder that never releases.
        self._local_lease = local_lease
        self._strict = False
        # The marks Redis gave last, shared with strict() views (whichever
        # call meets the outage first seeds the fallback with them).
        self._memo = _Memo()

    def strict(self) -> ResilientState:
        """This state, refusing (StateUnavailable) rather than falling back."""
        view = object.__new__(ResilientState)
        view.__dict__.update(self.__dict__)
        view._strict = True
        return view

    @property
    def degraded(self) -> bool:
        return self.breaker.is_open

    async def _call(self, primary: Callable[..., Awaitable[T]], fallback: Callable[..., Awaitable[T]], *args: Any) -> T:
        breaker = self.breaker
        allowed = breaker.allows()
        if allowed:
            try:
                result = await primary(*args)
            except self._failures as exc:
                self._failed(exc)
            except BaseException:
                if allowed == PROBE:
                    breaker.abandoned()
                raise
            else:
                breaker.succeeded()
                return result
        if self._strict:
            raise StateUnavailable(breaker.reason, retry_after=breaker.retry_after())
        return await fallback(*args)

    def _failed(self, exc: BaseException) -> None:
        if not self.breaker.is_open:
            # Going local: start from the marks Redis last gave, so accounts
            # known to be rate limited or broken stay out of rotation.
            self.fallback.seed_health(self._memo.health)
        self.breaker.failed(exc)

    async def check(self) -> bool:
        """Whether the primary answers; a probe only when one is due (for /health)."""
        if not self.breaker.is_open:
            return True
        try:
            await self._call(self.primary.ping, _nothing)
        except StateUnavailable:
            pass
        return not self.breaker.is_open

    # --- account health -------------------------------------------------
    async def mark_account(self, account_id: int, health: AccountHealth) -> None:
        await self._call(self.primary.mark_account, self.fallback.mark_account, account_id, health)

    async def clear_account(self, account_id: int) -> None:
        await self._call(self.primary.clear_account, self.fallback.clear_account, account_id)

    async def account_health(self) -> dict[int, AccountHealth]:
        marks: dict[int, AccountHealth] = await self._call(self.primary.account_health, self.fallback.account_health)
        if not self.breaker.is_open:
            self._memo.health = marks  # a reference, no copy: read only at an outage's start
        return marks

    async def record_error(self, account_id: int, message: str) -> None:
        await self._call(self.primary.record_error, self.fallback.record_error, account_id, message)

    async def last_error(self, account_id: int) -> LastError | None:
        return await self._call(self.primary.last_error, self.fallback.last_error, account_id)

    # --- concurrency slots ----------------------------------------------
    async def acquire(self, key: str, limit: int, lease_seconds: float) -> str | None:
        return await self._call(self.primary.acquire, self._acquire_local, key, limit, lease_seconds)

    async def _acquire_local(self, key: str, limit: int, lease_seconds: float) -> str | None:
        token = await self.fallback.acquire(key, limit, max(lease_seconds, self._local_lease))
        return None if token is None else LOCAL_TOKEN + token

    async def release(self, key: str, token: str) -> None:
        if token.startswith(LOCAL_TOKEN):
            await self.fallback.release(key, token[len(LOCAL_TOKEN) :])
            return
        # A Redis slot goes back to Redis: now if it may be tried (the
        # primary queues it itself if the call fails), else later.
        try:
            await self._call(self.primary.release, self._release_later, key, token)
        except StateUnavailable:
            self.primary.release_later(key, token)

    async def _release_later(self, key: str, token: str) -> None:
        self.primary.release_later(key, token)

    async def held(self, key: str) -> int:
        return await self._call(self.primary.held, self.fallback.held, key)

    # --- sticky session bindings ----------------------------------------
    async def get_binding(self, session: str) -> int | None:
        return await self._call(self.primary.get_binding, self.fallback.get_binding, session)

    async def bind(self, session: str, account_id: int, ttl_seconds: float) -> None:
        await self._call(self.primary.bind, self.fallback.bind, session, account_id, ttl_seconds)

    async def unbind(self, session: str) -> None:
        await self._call(self.primary.unbind, self.fallback.unbind, session)

    # --- which account made a stored response ---------------------------
    # During an outage ids are remembered locally; one remembered only in Redis
    # is unknown meanwhile, and its follow-up goes as if it had never been seen.
    async def remember_response(self, response_id: str, account_id: int, ttl_seconds: float) -> None:
        await self._call(self.primary.remember_response, self.fallback.remember_response,
                         response_id, account_id, ttl_seconds)

    async def response_account(self, response_id: str) -> int | None:
        return await self._call(self.primary.response_account, self.fallback.response_account, response_id)

    # --- pending OAuth logins --------------------------------------------
    # A login started during an outage is kept locally: it is finished on this
    # instance, or started again.
    async def keep_login(self, login_id: str, sealed: str, ttl_seconds: float) -> bool:
        return await self._call(self.primary.keep_login, self.fallback.keep_login, login_id, sealed, ttl_seconds)

    async def pending_login(self, login_id: str) -> str | None:
        return await self._call(self.primary.pending_login, self.fallback.pending_login, login_id)

    async def drop_login(self, login_id: str) -> None:
        await self._call(self.primary.drop_login, self.fallback.drop_login, login_id)

    # --- last used ------------------------------------------------------
    async def touch(self, account_id: int, at: float) -> None:
        await self._call(self.primary.touch, self.fallback.touch, account_id, at)

    async def last_used(self, account_ids: Iterable[int]) -> dict[int, float]:
        ids = list(account_ids)
        return await self._call(self.primary.last_used, self.fallback.last_used, ids)

    # --- windows and counters -------------------------------------------
    async def incr_window(self, key: str, window_seconds: int, amount: int = 1) -> int:
        return await self._call(self.primary.incr_window, self.fallback.incr_window, key, window_seconds, amount)

    async def get_window(self, key: str, window_seconds: int) -> int:
        return await self._call(self.primary.get_window, self.fallback.get_window, key, window_seconds)

    async def incr_float(self, key: str, amount: float, ttl_seconds: float) -> float:
        return await self._call(self.primary.incr_float, self.fallback.incr_float, key, amount, ttl_seconds)

    async def get_float(self, key: str) -> float:
        return await self._call(self.primary.get_float, self.fallback.get_float, key)

    async def aclose(self) -> None:
        if self._strict:
            return  # a view: its owner closes the state
        try:
            await self.primary.aclose()
        finally:
            await self.fallback.aclose()


async def _nothing() -> None:
    return None
