"""Runtime state shared by workers and instances: health, slots, bindings, windows.

`state_from_url(settings' REDIS_URL)` gives Redis-backed state when a Redis
URL is set, else state in this process's memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .memory import MemoryState
from .protocols import DEFAULT_PREFIX, HEALTH_STATES, AccountHealth, HealthState, LastError, SharedState

if TYPE_CHECKING:
    from .redis import RedisState

__all__ = [
    "DEFAULT_PREFIX",
    "HEALTH_STATES",
    "AccountHealth",
    "HealthState",
    "LastError",
    "MemoryState",
    "RedisState",
    "SharedState",
    "state_from_url",
]

_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def state_from_url(url: str | None, prefix: str = DEFAULT_PREFIX) -> SharedState:
    """RedisState for a redis://, rediss:// or unix:// URL; MemoryState for anything else."""
    if url and url.startswith(_REDIS_SCHEMES):
        from .redis import RedisState

        return RedisState(url, prefix=prefix)
    return MemoryState(prefix=prefix)


def __getattr__(name: str) -> Any:
    # Imported on first use: redis-py is an optional extra, and a gateway
    # without Redis must be able to import this package.
    if name == "RedisState":
        from .redis import RedisState

        return RedisState
    raise AttributeError(name)
