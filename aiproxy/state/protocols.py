"""What the scheduler and the quotas need from shared runtime state, as one protocol.

Stores hold what an admin configures; this holds what the traffic changes
many times a second: account health, concurrency slots, sticky bindings,
the account that made each stored Responses answer, last-used times, rate
windows and cost counters; and the admin's pending OAuth logins, for minutes. `MemoryState` keeps it in
this process; `RedisState` shares it between every worker and instance on
one Redis, so limits and health marks hold across the whole deployment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Literal, Protocol, runtime_checkable

HealthState = Literal["ok", "rate_limited", "overloaded", "error"]
HEALTH_STATES: tuple[HealthState, ...] = ("ok", "rate_limited", "overloaded", "error")

DEFAULT_PREFIX = "aiproxy:"


@dataclass
class AccountHealth:
    state: HealthState
    until: float | None = None  # epoch seconds the mark lapses at; None: until cleared
    reason: str = ""
    updated_at: float = 0.0  # epoch seconds


@dataclass
class LastError:
    """An account's most recent upstream error, kept for display after its mark is cleared."""

    message: str
    at: float  # epoch seconds


class StateUnavailable(Exception):
    """The shared store does not answer and this state may not fall back (failure mode `closed`)."""

    def __init__(self, reason: str = "", *, retry_after: float = 0.0) -> None:
        super().__init__(reason or "shared state unavailable")
        self.reason = reason
        self.retry_after = retry_after  # seconds until the store is tried again


@runtime_checkable
class SharedState(Protocol):
    # --- account health -------------------------------------------------
    async def mark_account(self, account_id: int, health: AccountHealth) -> None:
        """Set the account's mark; it lapses by itself at `health.until`."""
        ...

    async def clear_account(self, account_id: int) -> None: ...

    async def account_health(self) -> dict[int, AccountHealth]:
        """Every mark still in force (lapsed ones are dropped, not returned)."""
        ...

    async def record_error(self, account_id: int, message: str) -> None:
        """Remember the account's last error, separately from its mark."""
        ...

    async def last_error(self, account_id: int) -> LastError | None: ...

    # --- concurrency slots ----------------------------------------------
    async def acquire(self, key: str, limit: int, lease_seconds: float) -> str | None:
        """A slot token if fewer than `limit` unexpired slots of `key` are held, else None.

        A slot not released within `lease_seconds` comes back by itself, so a
        crashed holder cannot keep it.
        """
        ...

    async def release(self, key: str, token: str) -> None: ...

    async def held(self, key: str) -> int:
        """How many unexpired slots of `key` are held."""
        ...

    # --- sticky session bindings ----------------------------------------
    async def get_binding(self, session: str) -> int | None: ...
    async def bind(self, session: str, account_id: int, ttl_seconds: float) -> None: ...
    async def unbind(self, session: str) -> None: ...

    # --- which account made a stored response ---------------------------
    # Responses' `previous_response_id` names an answer the upstream keeps on
    # the account that made it; a follow-up must go there (issue 13).
    async def remember_response(self, response_id: str, account_id: int, ttl_seconds: float) -> None:
        """Note that `account_id` made `response_id`, for `ttl_seconds` (one write)."""
        ...

    async def response_account(self, response_id: str) -> int | None:
        """The account that made `response_id`, if remembered and not lapsed (one read)."""
        ...

    # --- pending OAuth logins --------------------------------------------
    # A login started on one instance may be finished on another. What is kept
    # is sealed (encrypted) by the caller: the state never holds a PKCE verifier
    # in the clear.
    async def keep_login(self, login_id: str, sealed: str, ttl_seconds: float) -> bool:
        """Keep a pending login for `ttl_seconds`; False when too many are pending (a process-local cap)."""
        ...

    async def pending_login(self, login_id: str) -> str | None:
        """The sealed login, if kept and not lapsed."""
        ...

    async def drop_login(self, login_id: str) -> None: ...

    # --- last used ------------------------------------------------------
    async def touch(self, account_id: int, at: float) -> None: ...

    async def last_used(self, account_ids: Iterable[int]) -> dict[int, float]:
        """Last-used times of those ids that have one, in one round trip."""
        ...

    # --- windows and counters (quotas) ----------------------------------
    async def incr_window(self, key: str, window_seconds: int, amount: int = 1) -> int:
        """Add `amount` to the fixed window now running; the window's new total.

        Windows are aligned to epoch multiples of `window_seconds` (a 60 s
        window starts on the minute), so every process agrees on them.
        """
        ...

    async def get_window(self, key: str, window_seconds: int) -> int:
        """The total of the window now running, without adding to it."""
        ...

    async def incr_float(self, key: str, amount: float, ttl_seconds: float) -> float:
        """Add `amount`; the new total. The counter lapses `ttl_seconds` after its first add."""
        ...

    async def get_float(self, key: str) -> float: ...

    async def aclose(self) -> None: ...
