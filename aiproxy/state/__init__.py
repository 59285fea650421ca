"""Runtime state shared by workers and instances: health, slots, bindings, windows.

`state_from_url(settings' REDIS_URL)` gives Redis-backed state when a Redis
URL is set (a ResilientState: Redis behind a circuit breaker, this process's
memory while Redis does not answer), else state in this process's memory.
`invalidation_for(state)` gives the channel on that Redis that tells other
instances of changes (state/invalidation.py); None for state in memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .breaker import CircuitBreaker
from .memory import MemoryState
from .protocols import (
    DEFAULT_PREFIX,
    HEALTH_STATES,
    AccountHealth,
    HealthState,
    LastError,
    SharedState,
    StateUnavailable,
)
from .resilient import ResilientState

if TYPE_CHECKING:
    from .invalidation import Invalidation
    from .redis import RedisState

__all__ = [
    "DEFAULT_PREFIX",
    "HEALTH_STATES",
    "AccountHealth",
    "CircuitBreaker",
    "HealthState",
    "Invalidation",
    "LastError",
    "MemoryState",
    "RedisState",
    "ResilientState",
    "SharedState",
    "StateUnavailable",
    "invalidation_for",
    "state_from_url",
    "state_status",
]

_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def state_from_url(
    url: str | None,
    prefix: str = DEFAULT_PREFIX,
    *,
    timeout: float = 0.5,
    cooldown: float = 5.0,
    local_lease: float = 1800.0,
) -> SharedState:
    """For a redis://, rediss:// or unix:// URL, a RedisState behind a breaker with a MemoryState fallback
    (ResilientState); MemoryState for anything else.

    `timeout` bounds each Redis connect and answer; after a failure Redis is
    not tried for `cooldown` seconds. `local_lease`: the lease of slots taken
    on the fallback (not renewed: their holder is this process).
    """
    if url and url.startswith(_REDIS_SCHEMES):
        from .redis import FAILURES, RedisState

        return ResilientState(
            RedisState(url, prefix=prefix, timeout=timeout),
            MemoryState(prefix=prefix),
            CircuitBreaker(cooldown),
            failures=FAILURES,
            local_lease=local_lease,
        )
    return MemoryState(prefix=prefix)


def invalidation_for(state: SharedState) -> Invalidation | None:
    """The change notices between instances on the Redis under `state`; None when there is none (one process)."""
    if isinstance(state, MemoryState):
        return None
    try:
        from .invalidation import Invalidation
        from .redis import RedisState
    except ImportError:  # no redis extra: a host's own state, not ours on Redis
        return None
    redis_state = state.primary if isinstance(state, ResilientState) else state
    if not isinstance(redis_state, RedisState):
        return None
    return Invalidation(redis_state.client, redis_state.prefix)


def state_status(state: SharedState) -> dict[str, str]:
    """What /health says of the state: its backend, and whether it is degraded (and why)."""
    if isinstance(state, ResilientState):
        if state.degraded:
            return {"state": "degraded", "state_reason": f"Redis unreachable ({state.breaker.reason}); "
                    "serving from process-local state"}
        return {"state": "redis"}
    if isinstance(state, MemoryState):
        return {"state": "memory"}
    return {"state": type(state).__name__}


def __getattr__(name: str) -> Any:
    # Imported on first use: redis-py is an optional extra, and a gateway
    # without Redis must be able to import this package.
    if name == "RedisState":
        from .redis import RedisState

        return RedisState
    if name == "Invalidation":
        from .invalidation import Invalidation

        return Invalidation
    raise AttributeError(name)
