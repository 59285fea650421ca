"""Stores that live in a dict: for tests and for embedding without a database."""

from __future__ import annotations

import copy
import dataclasses
import time
from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Callable, Generic, Sequence, TypeVar

from .entities import Account, ApiKey, UsageRecord, User, utcnow
from .protocols import UsageFilter, UsageTotal, check_grouping, is_error_status, sort_totals, usage_bucket

T = TypeVar("T", User, ApiKey, Account)


class _Table(Generic[T]):
    # Copies in and out, as a database would: a caller that mutates what it got
    # back must not change the stored row behind the store's back.
    def __init__(self) -> None:
        self.rows: dict[int, T] = {}
        self.next_id = 1

    def get(self, row_id: int) -> T | None:
        row = self.rows.get(row_id)
        return copy.deepcopy(row) if row is not None else None

    def all(self) -> list[T]:
        return [copy.deepcopy(r) for _, r in sorted(self.rows.items())]

    def create(self, row: T) -> T:
        row = copy.deepcopy(row)
        row.id = self.next_id
        self.next_id += 1
        self.rows[row.id] = row
        return copy.deepcopy(row)

    def update(self, row: T) -> T:
        if row.id not in self.rows:
            raise KeyError(row.id)
        row = copy.deepcopy(row)
        row.updated_at = utcnow()
        self.rows[row.id] = row  # type: ignore[index]
        return copy.deepcopy(row)

    def delete(self, row_id: int) -> bool:
        return self.rows.pop(row_id, None) is not None


class MemoryUserStore:
    def __init__(self) -> None:
        self._t: _Table[User] = _Table()

    async def get(self, user_id: int) -> User | None:
        return self._t.get(user_id)

    async def get_by_username(self, username: str) -> User | None:
        return next((u for u in self._t.all() if u.username == username), None)

    async def list(self) -> list[User]:
        return self._t.all()

    async def create(self, user: User) -> User:
        if await self.get_by_username(user.username) is not None:
            raise ValueError(f"user {user.username!r} exists")
        return self._t.create(user)

    async def update(self, user: User) -> User:
        if user.id not in self._t.rows:
            raise KeyError(user.id)
        other = await self.get_by_username(user.username)
        if other is not None and other.id != user.id:
            raise ValueError(f"user {user.username!r} exists")
        # As the SQL store: the token version is bump_token_version's alone.
        stored = self._t.rows[user.id]
        return self._t.update(dataclasses.replace(user, token_version=stored.token_version))

    async def delete(self, user_id: int) -> bool:
        return self._t.delete(user_id)

    async def bump_token_version(self, user_id: int) -> int | None:
        user = self._t.rows.get(user_id)
        if user is None:
            return None
        user.token_version += 1
        return user.token_version


class MemoryKeyStore:
    def __init__(self) -> None:
        self._t: _Table[ApiKey] = _Table()

    async def get(self, key_id: int) -> ApiKey | None:
        return self._t.get(key_id)

    async def get_by_hash(self, key_hash: str) -> ApiKey | None:
        for k in self._t.rows.values():
            if k.key_hash == key_hash:
                return copy.deepcopy(k)
        return None

    async def list(self, user_id: int | None = None) -> list[ApiKey]:
        return [k for k in self._t.all() if user_id is None or k.user_id == user_id]

    def _check_unique(self, key: ApiKey) -> None:
        if any(k.key_hash == key.key_hash and k.id != key.id for k in self._t.rows.values()):
            raise ValueError("an API key with this hash exists")

    async def create(self, key: ApiKey) -> ApiKey:
        self._check_unique(key)
        return self._t.create(key)

    async def update(self, key: ApiKey) -> ApiKey:
        if key.id not in self._t.rows:
            raise KeyError(key.id)
        self._check_unique(key)
        # As the SQL store: the first-use stamp is mark_first_use's alone.
        return self._t.update(dataclasses.replace(key, first_used_at=self._t.rows[key.id].first_used_at))

    async def delete(self, key_id: int) -> bool:
        return self._t.delete(key_id)

    async def mark_first_use(self, key_id: int, at: datetime) -> datetime | None:
        key = self._t.rows.get(key_id)
        if key is None:
            return None
        if key.first_used_at is None:
            key.first_used_at = at
        return key.first_used_at

    async def delete_for_user(self, user_id: int) -> int:
        ids = [k.id for k in self._t.rows.values() if k.user_id == user_id]
        for i in ids:
            self._t.delete(i)  # type: ignore[arg-type]
        return len(ids)


class MemoryAccountStore:
    def __init__(self) -> None:
        self._t: _Table[Account] = _Table()

    async def get(self, account_id: int) -> Account | None:
        return self._t.get(account_id)

    async def list(self) -> list[Account]:
        return self._t.all()

    async def create(self, account: Account) -> Account:
        return self._t.create(account)

    async def update(self, account: Account) -> Account:
        return self._t.update(account)

    async def delete(self, account_id: int) -> bool:
        return self._t.delete(account_id)


def usage_matches(r: UsageRecord, w: UsageFilter) -> bool:
    return (
        (w.start is None or r.created_at >= w.start)
        and (w.end is None or r.created_at < w.end)
        and (w.user_id is None or r.user_id == w.user_id)
        and (w.key_id is None or r.key_id == w.key_id)
        and (w.account_id is None or r.account_id == w.account_id)
        and (w.model is None or r.model == w.model)
        and (w.platform is None or r.platform == w.platform)
        and (w.status is None or r.status == w.status)
        and (w.bridged is None or r.bridged == w.bridged)
    )


def usage_group_value(r: UsageRecord, group_by: str) -> str | int | None:
    if group_by == "day":
        return r.created_at.date().isoformat()
    value: str | int | None = getattr(r, {"key": "key_id", "user": "user_id", "account": "account_id"}.get(group_by, group_by))
    return value


class MemoryUsageStore:
    def __init__(self) -> None:
        self.records: list[UsageRecord] = []

    async def add_many(self, records: Sequence[UsageRecord]) -> None:
        for r in records:
            r = copy.deepcopy(r)
            r.id = len(self.records) + 1
            self.records.append(r)

    async def query(
        self, where: UsageFilter, *, offset: int = 0, limit: int = 50
    ) -> tuple[list[UsageRecord], int]:
        found = sorted(
            (r for r in self.records if usage_matches(r, where)),
            key=lambda r: (r.created_at, r.id or 0),
            reverse=True,
        )
        return [copy.deepcopy(r) for r in found[offset : offset + limit]], len(found)

    async def totals(
        self, where: UsageFilter, group_by: str | None, *, interval: str | None = None
    ) -> list[UsageTotal]:
        check_grouping(group_by, interval)
        groups: dict[tuple[object, object], UsageTotal] = {}
        # Costs summed as decimals (as MySQL's DECIMAL column does), so a total
        # is exact to the nano-dollar rather than carrying float error.
        costs: dict[tuple[object, object], Decimal] = defaultdict(Decimal)
        for r in self.records:
            if not usage_matches(r, where):
                continue
            g = usage_group_value(r, group_by) if group_by is not None else None
            b = usage_bucket(r.created_at, interval) if interval is not None else None
            t = groups.get((b, g))
            if t is None:
                t = groups[(b, g)] = UsageTotal(group=g, bucket=b)
            t.requests += 1
            t.input_tokens += r.input_tokens
            t.output_tokens += r.output_tokens
            t.cache_creation_tokens += r.cache_creation_tokens
            t.cache_read_tokens += r.cache_read_tokens
            t.unpriced += 0 if r.priced else 1
            t.errors += 1 if is_error_status(r.status) else 0
            costs[(b, g)] += Decimal(repr(r.cost_usd))
        for k, total in groups.items():
            total.cost_usd = float(costs[k])
        return sort_totals(list(groups.values()))


class MemoryLeaseStore:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._held: dict[str, tuple[str, float]] = {}

    async def acquire(self, name: str, owner: str, seconds: float) -> bool:
        held = self._held.get(name)
        now = self._clock()
        if held is not None and held[0] != owner and held[1] > now:
            return False
        self._held[name] = (owner, now + seconds)
        return True

    async def release(self, name: str, owner: str) -> None:
        if self._held.get(name, ("", 0.0))[0] == owner:
            del self._held[name]


class MemoryStores:
    """All the stores in memory. Nothing survives the process."""

    def __init__(self) -> None:
        self.users = MemoryUserStore()
        self.keys = MemoryKeyStore()
        self.accounts = MemoryAccountStore()
        self.usage = MemoryUsageStore()
        self.leases = MemoryLeaseStore()

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None
