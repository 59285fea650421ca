"""What the gateway needs from storage, as protocols.

The in-memory stores (tests, embedding) and the SQL stores (server) both
implement these; nothing above `stores/` knows which one it has.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, Sequence, runtime_checkable

from .entities import Account, ApiKey, UsageRecord, User

# The ways usage can be grouped; each names a UsageRecord column except "day".
USAGE_GROUPS = ("key", "user", "account", "model", "platform", "day")
# The time buckets of a series: a UTC day ("2026-11-26") or a UTC hour
# ("2026-11-26T07:00:00Z"), the forms the admin API shows them in.
USAGE_INTERVALS = ("day", "hour")


def usage_bucket(moment: datetime, interval: str) -> str:
    """The bucket a naive-UTC moment falls in, as the stores name it."""
    if interval == "day":
        return moment.strftime("%Y-%m-%d")
    if interval == "hour":
        return moment.strftime("%Y-%m-%dT%H:00:00Z")
    raise ValueError(f"interval must be one of {', '.join(USAGE_INTERVALS)}")


def is_error_status(status: int) -> bool:
    """A request that failed: an error status, or none at all (0: the gateway
    answered nothing, the request broke off before a status was sent)."""
    return status >= 400 or status < 100


def check_grouping(group_by: str | None, interval: str | None) -> None:
    """Refuse a grouping the stores do not know (the names reach SQL)."""
    if group_by is not None and group_by not in USAGE_GROUPS:
        raise ValueError(f"group_by must be one of {', '.join(USAGE_GROUPS)}")
    if interval is not None and interval not in USAGE_INTERVALS:
        raise ValueError(f"interval must be one of {', '.join(USAGE_INTERVALS)}")


@dataclass
class UsageFilter:
    start: datetime | None = None  # inclusive
    end: datetime | None = None  # exclusive
    user_id: int | None = None
    key_id: int | None = None
    account_id: int | None = None
    model: str | None = None
    platform: str | None = None
    status: int | None = None
    # True: only the records of translated requests (UsageRecord.bridged); False: only the others.
    bridged: bool | None = None


@dataclass
class UsageTotal:
    group: str | int | None  # the key id, model name, "2026-11-26", …
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_read_tokens: int = 0
    cost_usd: float = 0.0  # summed to the nano-dollar
    unpriced: int = 0  # records whose model had no price (their cost counts as 0)
    errors: int = 0  # records of failed requests (is_error_status)
    bucket: str | None = None  # the time bucket, when the totals are a series


def sort_totals(totals: list[UsageTotal]) -> list[UsageTotal]:
    """The order every store gives: by bucket (when a series), then largest
    request count first, then by group."""
    return sorted(totals, key=lambda t: (t.bucket or "", -t.requests, str(t.group)))


class UserStore(Protocol):
    async def get(self, user_id: int) -> User | None: ...
    async def get_by_username(self, username: str) -> User | None: ...
    async def list(self) -> list[User]: ...
    async def create(self, user: User) -> User: ...
    async def update(self, user: User) -> User:
        """Write the user's fields, except token_version, which only
        bump_token_version changes (an edit read before a bump must not undo it)."""
        ...

    async def delete(self, user_id: int) -> bool: ...

    async def bump_token_version(self, user_id: int) -> int | None:
        """Add one to the user's token_version, atomically, and return the new
        value (None if the user is gone): every session token issued before is
        refused from then on."""
        ...


class KeyStore(Protocol):
    async def get(self, key_id: int) -> ApiKey | None: ...
    async def get_by_hash(self, key_hash: str) -> ApiKey | None: ...
    async def list(self, user_id: int | None = None) -> list[ApiKey]: ...
    async def create(self, key: ApiKey) -> ApiKey: ...
    async def update(self, key: ApiKey) -> ApiKey: ...
    async def delete(self, key_id: int) -> bool: ...
    async def delete_for_user(self, user_id: int) -> int: ...

    async def mark_first_use(self, key_id: int, at: datetime) -> datetime | None:
        """Stamp the key's first use at `at` unless it has one; return the
        stamp it has now (the earlier one stays), or None if the key is gone."""
        ...


class AccountStore(Protocol):
    async def get(self, account_id: int) -> Account | None: ...
    async def list(self) -> list[Account]: ...
    async def create(self, account: Account) -> Account: ...
    async def update(self, account: Account) -> Account: ...
    async def delete(self, account_id: int) -> bool: ...


class UsageStore(Protocol):
    async def add_many(self, records: Sequence[UsageRecord]) -> None: ...

    async def query(
        self, where: UsageFilter, *, offset: int = 0, limit: int = 50
    ) -> tuple[list[UsageRecord], int]:
        """Records matching `where`, newest first, and the total count."""
        ...

    async def totals(
        self, where: UsageFilter, group_by: str | None, *, interval: str | None = None
    ) -> list[UsageTotal]:
        """Sums per group (one of USAGE_GROUPS; None: all records in one group),
        largest request count first. With an interval (one of USAGE_INTERVALS)
        the sums are per (time bucket, group) instead, oldest bucket first and,
        within a bucket, largest request count first: a time series."""
        ...


class LeaseStore(Protocol):
    """Named locks that expire, shared by every process on the same store."""

    async def acquire(self, name: str, owner: str, seconds: float) -> bool:
        """Take (or extend, for the same owner) the lease; False while another owner holds it."""
        ...

    async def release(self, name: str, owner: str) -> None:
        """Give the lease up, if `owner` still holds it."""
        ...


@runtime_checkable
class Stores(Protocol):
    """The stores together, opened and closed as one."""

    # Read-only properties, so that an implementation may declare its own
    # store classes (protocol attributes would be invariant).
    @property
    def users(self) -> UserStore: ...
    @property
    def keys(self) -> KeyStore: ...
    @property
    def accounts(self) -> AccountStore: ...
    @property
    def usage(self) -> UsageStore: ...
    @property
    def leases(self) -> LeaseStore: ...

    async def open(self) -> None:
        """Connect, create or migrate the schema. Called once at app start."""
        ...

    async def close(self) -> None: ...
