"""What the admin API may see and do about accounts' runtime health.

The scheduler implements `AccountMonitor`; the admin API is handed one and
never touches shared state itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Protocol


@dataclass
class AccountStatus:
    state: str  # "ok" | "rate_limited" | "overloaded" | "error"
    reason: str = ""
    until: float | None = None  # epoch seconds the state lapses at; None: until reset
    last_error: str | None = None
    last_error_at: float | None = None
    last_used: float | None = None  # epoch seconds
    concurrency: int = 0  # requests in flight on this account now


class AccountMonitor(Protocol):
    async def status(self, account_ids: Iterable[int]) -> dict[int, AccountStatus]:
        """The runtime status of each id (accounts with no record are "ok")."""
        ...

    async def reset(self, account_id: int) -> None:
        """Clear the account's state (rate limit, cooldown or error) at once."""
        ...
