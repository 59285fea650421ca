"""Every store method on every backend: memory (the reference), SQLite, MySQL.

The same assertions run on each, so the SQL stores are held to the memory
store's behaviour; a few SQL-only tests at the end cover what only a database
has (reopening, migrations, concurrency, column limits).
"""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest
import sqlalchemy as sa

from aiproxy.stores import migrations
from aiproxy.stores.entities import Account, ApiKey, UsageRecord, User, utcnow
from aiproxy.stores.migrations import SCHEMA_VERSION, Migration
from aiproxy.stores.protocols import USAGE_GROUPS, Stores, UsageFilter, UsageTotal
from aiproxy.stores.sql import SQLStores, normalize_url

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 11, 24, 22, 0, 0)
OLD = datetime(2001, 2, 3, 4, 5, 6)


def without_id(obj: Any) -> Any:
    return dataclasses.replace(obj, id=None)


# --- users ------------------------------------------------------------------


async def test_users_crud(stores: Stores) -> None:
    assert isinstance(stores, Stores)
    assert await stores.users.list() == []
    alice_in = User("alice", "hash-a", role="admin", must_change_password=True, created_at=OLD, updated_at=OLD)
    alice = await stores.users.create(alice_in)
    assert isinstance(alice.id, int)
    assert alice_in.id is None  # the caller's object is left alone
    assert alice == dataclasses.replace(alice_in, id=alice.id)
    bob = await stores.users.create(User("bob", "hash-b", enabled=False))
    assert bob.id != alice.id

    assert await stores.users.get(alice.id) == alice
    assert await stores.users.get(bob.id) == bob  # type: ignore[arg-type]
    assert await stores.users.get(10_000) is None
    assert await stores.users.get_by_username("alice") == alice
    assert await stores.users.get_by_username("Alice") is None  # exact match, on every backend
    assert await stores.users.get_by_username("nobody") is None
    assert await stores.users.list() == [alice, bob]

    # What comes back is a copy: changing it changes nothing stored.
    got = await stores.users.get(alice.id)
    assert got is not None
    got.role = "user"
    assert (await stores.users.get(alice.id)) == alice

    before = utcnow()
    changed = dataclasses.replace(alice, password_hash="hash-a2", enabled=False, must_change_password=False)
    updated = await stores.users.update(changed)
    assert updated.updated_at >= before and updated.updated_at != OLD
    assert updated == dataclasses.replace(changed, updated_at=updated.updated_at)
    assert updated.created_at == OLD
    assert await stores.users.get(alice.id) == updated

    with pytest.raises(KeyError):
        await stores.users.update(dataclasses.replace(alice, id=10_000))

    assert await stores.users.delete(alice.id) is True
    assert await stores.users.delete(alice.id) is False
    assert await stores.users.get(alice.id) is None
    assert await stores.users.get_by_username("alice") is None
    assert await stores.users.list() == [bob]


async def test_duplicate_username_is_a_value_error(stores: Stores) -> None:
    await stores.users.create(User("carol", "h"))
    with pytest.raises(ValueError):
        await stores.users.create(User("carol", "other"))
    # The username is free again once its user is gone.
    carol = await stores.users.get_by_username("carol")
    assert carol is not None and carol.id is not None
    await stores.users.delete(carol.id)
    assert (await stores.users.create(User("carol", "h2"))).username == "carol"


async def test_token_version_changes_only_by_bump(stores: Stores) -> None:
    erin = await stores.users.create(User("erin", "h", token_version=0))
    assert erin.id is not None and erin.token_version == 0
    assert await stores.users.bump_token_version(erin.id) == 1
    assert await stores.users.bump_token_version(erin.id) == 2
    stored = await stores.users.get(erin.id)
    assert stored is not None and stored.token_version == 2
    # A bump is not an edit: updated_at stays.
    assert stored.updated_at == erin.updated_at

    # An edit made from a copy read before the bumps writes its fields but not
    # its (stale) version: a logout racing a PATCH stays a logout.
    edited = await stores.users.update(dataclasses.replace(erin, role="admin", token_version=0))
    assert (edited.role, edited.token_version) == ("admin", 2)
    assert (await stores.users.get(erin.id)) == edited
    assert await stores.users.bump_token_version(10_000) is None


async def test_concurrent_bumps_all_count(stores: Stores) -> None:
    user = await stores.users.create(User("fay", "h"))
    assert user.id is not None
    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(stores.users.bump_token_version, user.id)
    stored = await stores.users.get(user.id)
    assert stored is not None and stored.token_version == 5


async def test_usernames_differing_in_case_are_different_users(stores: Stores) -> None:
    a = await stores.users.create(User("dave", "h"))
    b = await stores.users.create(User("Dave", "h"))
    assert await stores.users.get_by_username("dave") == a
    assert await stores.users.get_by_username("Dave") == b


# --- keys ---------------------------------------------------------------------


def make_key(user_id: int, n: int, **kw: Any) -> ApiKey:
    return ApiKey(user_id=user_id, name=f"key {n}", key_hash=f"hash{n:04x}" * 8, key_prefix=f"sk-{n:04}", **kw)


async def test_keys_crud(stores: Stores) -> None:
    expires = datetime(2027, 1, 2, 3, 4, 5, 678901)  # microseconds must survive
    k1_in = make_key(1, 1, expires_at=expires, platforms=["claude", "openai"], models=["claude-sonnet-4", "gpt-5"],
                     created_at=OLD, updated_at=OLD)
    k1 = await stores.keys.create(k1_in)
    k2 = await stores.keys.create(make_key(1, 2, enabled=False))
    k3 = await stores.keys.create(make_key(2, 3, models=["ünïcødé-模型"]))
    assert k1 == dataclasses.replace(k1_in, id=k1.id)
    assert k2.platforms == [] and k2.models == [] and k2.expires_at is None and k2.enabled is False
    assert (k2.account_id, k2.group, k2.shared_fallback) == (None, None, False)
    assert k3.models == ["ünïcødé-模型"]

    assert await stores.keys.get(k1.id) == k1  # type: ignore[arg-type]
    assert await stores.keys.get(10_000) is None
    assert await stores.keys.get_by_hash(k1.key_hash) == k1
    assert await stores.keys.get_by_hash(k3.key_hash) == k3
    assert await stores.keys.get_by_hash(k1.key_hash.upper()) is None
    assert await stores.keys.get_by_hash("missing") is None
    assert await stores.keys.list() == [k1, k2, k3]
    assert await stores.keys.list(user_id=1) == [k1, k2]
    assert await stores.keys.list(user_id=2) == [k3]
    assert await stores.keys.list(user_id=3) == []

    changed = dataclasses.replace(k1, platforms=[], models=["m"], expires_at=None, enabled=False, name="renamed")
    updated = await stores.keys.update(changed)
    assert updated == dataclasses.replace(changed, updated_at=updated.updated_at)
    assert updated.updated_at != OLD
    assert await stores.keys.get_by_hash(k1.key_hash) == updated
    with pytest.raises(KeyError):
        await stores.keys.update(dataclasses.replace(k1, id=10_000))

    # Bindings (migration 4) round-trip, and can be set back.
    bound = await stores.keys.update(dataclasses.replace(k2, account_id=123_456_789_012, group="team-a.b_c",
                                                         shared_fallback=True))
    assert (bound.account_id, bound.group, bound.shared_fallback) == (123_456_789_012, "team-a.b_c", True)
    assert await stores.keys.get(k2.id) == bound  # type: ignore[arg-type]
    assert await stores.keys.get_by_hash(k2.key_hash) == bound
    unbound = await stores.keys.update(dataclasses.replace(bound, account_id=None, group=None, shared_fallback=False))
    assert await stores.keys.get(k2.id) == unbound  # type: ignore[arg-type]
    assert (unbound.account_id, unbound.group, unbound.shared_fallback) == (None, None, False)
    k4 = await stores.keys.create(make_key(3, 4, group="g" * 64, shared_fallback=True))
    assert await stores.keys.get(k4.id) == k4 and k4.group == "g" * 64 and k4.shared_fallback is True  # type: ignore[arg-type]
    assert await stores.keys.delete(k4.id) is True  # type: ignore[arg-type]

    # Quotas (migration 6) round-trip, and can be set back to no limit.
    assert (k2.rpm_limit, k2.max_concurrency, k2.daily_token_limit) == (None, None, None)
    assert (k2.daily_cost_limit, k2.weekly_cost_limit, k2.total_cost_limit) == (None, None, None)
    limited = await stores.keys.update(dataclasses.replace(
        unbound, rpm_limit=60, max_concurrency=3, daily_token_limit=5_000_000_000, daily_cost_limit=1.25,
        weekly_cost_limit=0.000123, total_cost_limit=1234.5))
    assert await stores.keys.get(k2.id) == limited  # type: ignore[arg-type]
    assert await stores.keys.get_by_hash(k2.key_hash) == limited
    assert (limited.daily_cost_limit, limited.weekly_cost_limit, limited.total_cost_limit) == (1.25, 0.000123, 1234.5)
    unlimited = await stores.keys.update(dataclasses.replace(
        limited, rpm_limit=None, max_concurrency=None, daily_token_limit=None, daily_cost_limit=None,
        weekly_cost_limit=None, total_cost_limit=None))
    assert await stores.keys.get(k2.id) == unlimited  # type: ignore[arg-type]
    k5 = await stores.keys.create(make_key(3, 5, rpm_limit=1, total_cost_limit=0.0))
    assert await stores.keys.get(k5.id) == k5 and k5.total_cost_limit == 0.0  # type: ignore[arg-type]
    assert await stores.keys.delete(k5.id) is True  # type: ignore[arg-type]

    assert await stores.keys.delete(k3.id) is True  # type: ignore[arg-type]
    assert await stores.keys.delete(k3.id) is False  # type: ignore[arg-type]
    assert await stores.keys.get_by_hash(k3.key_hash) is None

    assert await stores.keys.delete_for_user(1) == 2
    assert await stores.keys.delete_for_user(1) == 0
    assert await stores.keys.list() == []


# --- accounts -----------------------------------------------------------------


OPTIONS = {
    "region": "eu-west-1",
    "api_version": "2024-10-21",
    "deployments": {"gpt-5": "prod-gpt5", "模型": {"name": "ünïcødé", "weights": [1, 2.5, None, True]}},
    "empty": {},
    "flag": False,
}


async def test_keys_first_use_is_stamped_once(stores: Stores) -> None:
    key = await stores.keys.create(make_key(1, 1, expires_after_days=7))
    assert (key.expires_after_days, key.first_used_at) == (7, None)
    first = datetime(2026, 11, 26, 8, 0, 0, 123456)
    assert await stores.keys.mark_first_use(key.id, first) == first  # type: ignore[arg-type]
    # A later stamp (another instance, a retry) leaves the first one.
    assert await stores.keys.mark_first_use(key.id, first + timedelta(hours=1)) == first  # type: ignore[arg-type]
    stored = await stores.keys.get_by_hash(key.key_hash)
    assert stored is not None and stored.first_used_at == first
    assert stored.updated_at == key.updated_at  # a use, not an edit
    assert stored.expiry() == first + timedelta(days=7)
    assert await stores.keys.mark_first_use(10_000, first) is None
    # An edit made from a copy read before the stamp does not undo it.
    edited = await stores.keys.update(dataclasses.replace(key, name="renamed"))
    assert (edited.name, edited.first_used_at) == ("renamed", first)


async def test_accounts_crud(stores: Stores) -> None:
    a1_in = Account("main", "claude", "claude-console", credentials="enc:" + "x" * 5000,
                    base_url="https://api.example.com", priority=10, models=["claude-opus-4"],
                    model_mapping={"claude-opus-4": "anthropic.claude-opus-4-v1:0", "短名": "長い名前-ü"},
                    options=OPTIONS, proxy="socks5h://user:pä@proxy.example:1080",
                    weight=7, max_concurrency=3, schedulable=False, group="team-a",
                    created_at=OLD, updated_at=OLD)
    a1 = await stores.accounts.create(a1_in)
    a2 = await stores.accounts.create(Account("spare", "claude", "claude-console", enabled=False))
    assert a1 == dataclasses.replace(a1_in, id=a1.id)
    assert (a1.weight, a1.max_concurrency, a1.schedulable, a1.group) == (7, 3, False, "team-a")
    assert (a2.weight, a2.max_concurrency, a2.schedulable, a2.group) == (1, None, True, None)
    assert a1.options == OPTIONS and a1.proxy == "socks5h://user:pä@proxy.example:1080"
    assert list(a1.model_mapping) == ["claude-opus-4", "短名"]  # order kept
    assert a2.credentials == "" and a2.base_url is None and a2.priority == 50 and a2.models == []
    assert a2.model_mapping == {} and a2.options == {} and a2.proxy is None

    assert await stores.accounts.get(a1.id) == a1  # type: ignore[arg-type]
    assert await stores.accounts.get(10_000) is None
    assert await stores.accounts.list() == [a1, a2]

    # Nested values come back as copies too.
    got = await stores.accounts.get(a1.id)  # type: ignore[arg-type]
    assert got is not None
    got.options["deployments"]["gpt-5"] = "changed"
    got.model_mapping.clear()
    assert await stores.accounts.get(a1.id) == a1  # type: ignore[arg-type]

    changed = dataclasses.replace(a1, credentials="enc:new", base_url=None, priority=99, enabled=False, models=[],
                                  model_mapping={}, options={"project_id": "p-1"}, proxy=None,
                                  weight=1000, max_concurrency=None, schedulable=True, group=None)
    updated = await stores.accounts.update(changed)
    assert updated == dataclasses.replace(changed, updated_at=updated.updated_at)
    assert updated.updated_at != OLD
    assert await stores.accounts.get(a1.id) == updated  # type: ignore[arg-type]
    proxied = await stores.accounts.update(dataclasses.replace(a2, proxy="http://10.0.0.1:3128",
                                                               model_mapping={"a": "b"}))
    assert (await stores.accounts.get(a2.id)) == proxied  # type: ignore[arg-type]
    assert proxied.proxy == "http://10.0.0.1:3128" and proxied.model_mapping == {"a": "b"}
    with pytest.raises(KeyError):
        await stores.accounts.update(dataclasses.replace(a1, id=10_000))

    assert await stores.accounts.delete(a1.id) is True  # type: ignore[arg-type]
    assert await stores.accounts.delete(a1.id) is False  # type: ignore[arg-type]
    assert await stores.accounts.list() == [proxied]


# --- usage --------------------------------------------------------------------

MODELS = ("claude-sonnet-4", "claude-opus-4", "gpt-5")
PLATFORMS = ("claude", "claude", "openai")
# (client, upstream): native, translated, unknown, and a client format with no upstream (refused).
FORMATS = (("anthropic-messages", "anthropic-messages"), ("anthropic-messages", "openai-chat"), ("", ""),
           ("openai-chat", ""))


def usage_records(n: int = 130) -> list[UsageRecord]:
    """Records in time order across three UTC days, with repeated timestamps,
    missing ids and a spread of every field, so groups and filters all bite."""
    out = []
    for i in range(n):
        out.append(
            UsageRecord(
                platform=PLATFORMS[i % 3],
                endpoint="/v1/messages" if i % 3 < 2 else "/v1/chat/completions",
                model=MODELS[i % 3],
                user_id=None if i % 11 == 0 else 1 + i % 2,
                key_id=None if i % 11 == 0 else 1 + i % 4,
                account_id=None if i % 7 == 0 else 1 + i % 3,
                stream=i % 2 == 0,
                status=(0 if i % 13 == 6 else 200) if i % 5 else 429,
                input_tokens=i * 10,
                output_tokens=i * 3,
                cache_creation_tokens=i % 4,
                cache_read_tokens=i * 7 % 13,
                duration_ms=100 + i,
                ttfb_ms=None if i % 6 == 0 else 20 + i,
                error=None if i % 5 else "rate limited",
                cache_creation_1h_tokens=i % 4 // 2,
                # Costs to the nano-dollar, some unpriced (cost 0), one large.
                cost_usd=0.0 if i % 9 == 4 else round(i * 0.001234567 + (123456.0 if i == 7 else 0), 9),
                priced=i % 9 != 4,
                # Native, translated, and unknown (records from before, refusals).
                client_format=FORMATS[i % 4][0],
                upstream_format=FORMATS[i % 4][1],
                # Pairs share a timestamp (so id breaks ties); 40-minute steps
                # from 22:00 cross two midnights.
                created_at=T0 + timedelta(minutes=40 * (i // 2), microseconds=250 if i // 2 % 3 == 0 else 0),
            )
        )
    return out


def matches(r: UsageRecord, w: UsageFilter) -> bool:
    return (
        (w.start is None or r.created_at >= w.start)
        and (w.end is None or r.created_at < w.end)
        and all(
            getattr(w, f) is None or getattr(r, f) == getattr(w, f)
            for f in ("user_id", "key_id", "account_id", "model", "platform", "status")
        )
        and (w.bridged is None or w.bridged == ("" not in (r.client_format, r.upstream_format)
                                                and r.client_format != r.upstream_format))
    )


def expected_totals(records: list[UsageRecord], w: UsageFilter, group_by: str) -> list[UsageTotal]:
    attr = {"key": "key_id", "user": "user_id", "account": "account_id"}.get(group_by, group_by)
    sums: dict[Any, UsageTotal] = {}
    for r in records:
        if not matches(r, w):
            continue
        g = r.created_at.strftime("%Y-%m-%d") if group_by == "day" else getattr(r, attr)
        t = sums.setdefault(g, UsageTotal(group=g))
        t.requests += 1
        t.input_tokens += r.input_tokens
        t.output_tokens += r.output_tokens
        t.cache_creation_tokens += r.cache_creation_tokens
        t.cache_read_tokens += r.cache_read_tokens
        t.unpriced += 0 if r.priced else 1
        t.errors += 1 if r.status >= 400 or r.status == 0 else 0
        # Summed exactly, in decimal: every store must give the exact sum.
        t.cost_usd = float(Decimal(repr(t.cost_usd)) + Decimal(repr(r.cost_usd)))
    return sorted(sums.values(), key=lambda t: (-t.requests, str(t.group)))


async def load_usage(stores: Stores) -> tuple[list[UsageRecord], list[UsageRecord]]:
    """Insert the records in two batches; return them and everything stored, newest first."""
    records = usage_records()
    await stores.usage.add_many(records[:3])
    await stores.usage.add_many(records[3:])  # > 50 rows: several INSERTs in one transaction
    await stores.usage.add_many([])
    assert all(r.id is None for r in records)  # the caller's records are left alone
    stored, total = await stores.usage.query(UsageFilter(), limit=1000)
    assert total == len(records) == len(stored)
    return records, stored


async def test_usage_add_many_and_query_all(stores: Stores) -> None:
    records, stored = await load_usage(stores)
    ids = [r.id for r in stored]
    assert all(isinstance(i, int) for i in ids) and len(set(ids)) == len(ids)
    # Newest first, id breaking ties between equal timestamps.
    keys = [(r.created_at, r.id) for r in stored]
    assert keys == sorted(keys, reverse=True)
    # Every field round-trips exactly (datetimes, booleans, NULLs).
    assert sorted(map(without_id, stored), key=repr) == sorted(records, key=repr)
    assert any(r.created_at.microsecond == 250 for r in stored)
    assert {type(r.stream) for r in stored} == {bool}


FILTERS = [
    UsageFilter(user_id=1),
    UsageFilter(key_id=3),
    UsageFilter(account_id=2),
    UsageFilter(model="gpt-5"),
    UsageFilter(platform="claude"),
    UsageFilter(status=429),
    UsageFilter(model="claude-opus-4", status=200, user_id=2),
    UsageFilter(start=T0 + timedelta(days=1)),
    UsageFilter(end=T0 + timedelta(hours=5)),
    UsageFilter(start=T0 + timedelta(hours=3), end=T0 + timedelta(hours=20), platform="claude"),
    UsageFilter(model="no-such-model"),
    UsageFilter(bridged=True),
    UsageFilter(bridged=False, platform="claude"),
]


@pytest.mark.parametrize("where", FILTERS, ids=repr)
async def test_usage_query_filters(stores: Stores, where: UsageFilter) -> None:
    _, stored = await load_usage(stores)
    expected = [r for r in stored if matches(r, where)]
    got, total = await stores.usage.query(where, limit=1000)
    assert (got, total) == (expected, len(expected))


async def test_usage_query_start_inclusive_end_exclusive(stores: Stores) -> None:
    _, stored = await load_usage(stores)
    edge = stored[40].created_at
    at_edge = [r for r in stored if r.created_at == edge]
    assert len(at_edge) == 2
    from_edge, _ = await stores.usage.query(UsageFilter(start=edge), limit=1000)
    until_edge, _ = await stores.usage.query(UsageFilter(end=edge), limit=1000)
    exactly, n = await stores.usage.query(UsageFilter(start=edge, end=edge + timedelta(microseconds=1)))
    assert all(r in from_edge for r in at_edge)
    assert not any(r in until_edge for r in at_edge)
    assert (exactly, n) == (at_edge, 2)
    assert len(from_edge) + len(until_edge) == len(stored)


async def test_usage_query_paging(stores: Stores) -> None:
    _, stored = await load_usage(stores)
    where = UsageFilter(platform="claude")
    expected = [r for r in stored if matches(r, where)]
    pages = []
    for offset in range(0, len(expected) + 7, 7):
        page, total = await stores.usage.query(where, offset=offset, limit=7)
        assert total == len(expected)
        assert len(page) <= 7
        pages.extend(page)
    assert pages == expected
    assert await stores.usage.query(where, offset=len(expected), limit=7) == ([], len(expected))
    assert (await stores.usage.query(UsageFilter()))[0] == stored[:50]  # default limit


@pytest.mark.parametrize("group_by", USAGE_GROUPS)
@pytest.mark.parametrize(
    "where",
    [UsageFilter(), UsageFilter(platform="claude", start=T0 + timedelta(hours=6)), UsageFilter(model="nothing")],
    ids=["all", "filtered", "empty"],
)
async def test_usage_totals(stores: Stores, group_by: str, where: UsageFilter) -> None:
    records, _ = await load_usage(stores)
    got = await stores.usage.totals(where, group_by)
    assert got == expected_totals(records, where, group_by)
    if where == UsageFilter():
        assert sum(t.requests for t in got) == len(records)
        assert len(got) > 1


def expected_series(
    records: list[UsageRecord], w: UsageFilter, group_by: str | None, interval: str
) -> list[UsageTotal]:
    """The series computed by hand: each matching record's totals added to its
    (bucket, group) cell, the bucket spelled out independently of the stores."""
    attr = {"key": "key_id", "user": "user_id", "account": "account_id"}.get(group_by or "", group_by)
    sums: dict[Any, UsageTotal] = {}
    for r in records:
        if not matches(r, w):
            continue
        b = r.created_at.strftime("%Y-%m-%d") if interval == "day" else f"{r.created_at:%Y-%m-%dT%H}:00:00Z"
        if group_by is None:
            g = None
        elif group_by == "day":
            g = r.created_at.strftime("%Y-%m-%d")
        else:
            g = getattr(r, attr)
        t = sums.setdefault((b, g), UsageTotal(group=g, bucket=b))
        t.requests += 1
        t.input_tokens += r.input_tokens
        t.output_tokens += r.output_tokens
        t.cache_creation_tokens += r.cache_creation_tokens
        t.cache_read_tokens += r.cache_read_tokens
        t.unpriced += 0 if r.priced else 1
        t.errors += 1 if r.status >= 400 or r.status == 0 else 0
        t.cost_usd = float(Decimal(repr(t.cost_usd)) + Decimal(repr(r.cost_usd)))
    return sorted(sums.values(), key=lambda t: (t.bucket, -t.requests, str(t.group)))


@pytest.mark.parametrize("interval", ["day", "hour"])
@pytest.mark.parametrize("group_by", [None, "key", "user", "account", "model", "platform"])
@pytest.mark.parametrize(
    "where", [UsageFilter(), UsageFilter(platform="claude", start=T0 + timedelta(hours=6))], ids=["all", "filtered"]
)
async def test_usage_series(stores: Stores, group_by: str | None, interval: str, where: UsageFilter) -> None:
    records, _ = await load_usage(stores)
    got = await stores.usage.totals(where, group_by, interval=interval)
    assert got == expected_series(records, where, group_by, interval)
    # Each bucket's cells add up to the plain totals of the same filter.
    flat = await stores.usage.totals(where, None)
    if got:
        [everything] = flat
        assert sum(t.requests for t in got) == everything.requests
        assert sum(t.output_tokens for t in got) == everything.output_tokens
        assert round(sum(Decimal(repr(t.cost_usd)) for t in got), 9) == Decimal(repr(everything.cost_usd))
    if where == UsageFilter():
        assert len({t.bucket for t in got}) > (1 if interval == "day" else 3)


async def test_usage_series_hours_are_utc(stores: Stores) -> None:
    await stores.usage.add_many(
        [UsageRecord("claude", "/v1/messages", "m", created_at=datetime(2026, 11, 26, h, 59, 59)) for h in (0, 0, 23)]
    )
    got = await stores.usage.totals(UsageFilter(), None, interval="hour")
    assert [(t.bucket, t.requests) for t in got] == [("2026-11-26T00:00:00Z", 2), ("2026-11-26T23:00:00Z", 1)]
    assert await stores.usage.totals(UsageFilter(model="none"), None) == []


async def test_usage_costs_round_trip_and_sum_exactly(stores: Stores) -> None:
    costs = [0.000000001, 123456.123456789, 0.1, 0.2, 0.0, 999999.999999999]
    records = [
        UsageRecord("claude", "/v1/messages", "m", cost_usd=c, priced=c != 0.0, cache_creation_1h_tokens=i,
                    created_at=T0)
        for i, c in enumerate(costs)
    ]
    await stores.usage.add_many(records)
    stored, _ = await stores.usage.query(UsageFilter(), limit=10)
    assert sorted(r.cost_usd for r in stored) == sorted(costs)
    assert {type(r.cost_usd) for r in stored} == {float}
    assert sorted(r.cache_creation_1h_tokens for r in stored) == list(range(len(costs)))
    [total] = await stores.usage.totals(UsageFilter(), "model")
    # 0.1 + 0.2 is 0.30000000000000004 in floats: the stores sum to the nano-dollar.
    assert total.cost_usd == 1123456.423456789
    assert total.unpriced == 1


async def test_usage_totals_by_day_are_utc_dates(stores: Stores) -> None:
    records, _ = await load_usage(stores)
    got = await stores.usage.totals(UsageFilter(), "day")
    assert sorted(t.group for t in got) == ["2026-11-24", "2026-11-25", "2026-11-26"]  # type: ignore[type-var]


async def test_usage_totals_rejects_unknown_group(stores: Stores) -> None:
    with pytest.raises(ValueError):
        await stores.usage.totals(UsageFilter(), "hour")
    with pytest.raises(ValueError):
        await stores.usage.totals(UsageFilter(), "created_at; DROP TABLE usage_records")
    with pytest.raises(ValueError):
        await stores.usage.totals(UsageFilter(), None, interval="minute")


async def test_usage_newest_first_even_when_inserted_out_of_order(stores: Stores) -> None:
    late = UsageRecord("claude", "/v1/messages", created_at=T0 + timedelta(hours=2))
    early = UsageRecord("claude", "/v1/messages", created_at=T0)
    await stores.usage.add_many([late, early])
    got, _ = await stores.usage.query(UsageFilter())
    assert [r.created_at for r in got] == [late.created_at, early.created_at]


# --- SQL only -----------------------------------------------------------------


async def count_version_rows(s: SQLStores) -> int:
    return int(await s._db.fetch_val("SELECT COUNT(*) FROM schema_version"))


async def test_reopen_keeps_data_and_does_not_migrate_again(sql_url: str) -> None:
    s = SQLStores(sql_url)
    await s.open()
    user = await s.users.create(User("erin", "h"))
    key = await s.keys.create(make_key(user.id, 1, platforms=["claude"]))  # type: ignore[arg-type]
    account = await s.accounts.create(Account("a", "claude", "claude-console", credentials="c"))
    await s.usage.add_many(usage_records(5))
    usage, _ = await s.usage.query(UsageFilter())
    assert await s.schema_version() == SCHEMA_VERSION
    await s.close()

    again = SQLStores(sql_url)
    await again.open()
    try:
        assert await again.schema_version() == SCHEMA_VERSION
        assert await count_version_rows(again) == len(migrations.MIGRATIONS)
        assert await again.users.list() == [user]
        assert await again.keys.get_by_hash(key.key_hash) == key
        assert await again.accounts.list() == [account]
        assert await again.usage.query(UsageFilter()) == (usage, 5)
        # Ids keep counting up after a reopen.
        assert (await again.users.create(User("frank", "h"))).id > user.id  # type: ignore[operator]
    finally:
        await again.close()


async def test_only_new_migrations_run(sql_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    s = SQLStores(sql_url)
    await s.open()
    await s.users.create(User("gina", "h"))
    await s.close()

    # No IF NOT EXISTS: running this migration a second time would fail.
    probe = Migration(SCHEMA_VERSION + 1, "test probe", sqlite=("CREATE TABLE probe (x INTEGER)",),
                      mysql=("CREATE TABLE probe (x INT) ENGINE=InnoDB",))
    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, probe])
    for _ in range(2):
        s = SQLStores(sql_url)
        await s.open()
        assert await s.schema_version() == SCHEMA_VERSION + 1
        assert await count_version_rows(s) == SCHEMA_VERSION + 1
        assert await s._db.fetch_val("SELECT COUNT(*) FROM probe") == 0
        assert [u.username for u in await s.users.list()] == ["gina"]
        await s.close()

    # A database migrated by a newer aiproxy is refused, not silently used.
    monkeypatch.undo()
    with pytest.raises(RuntimeError, match="newer"):
        await SQLStores(sql_url).open()


async def open_at_version(url: str, monkeypatch: pytest.MonkeyPatch, version: int) -> SQLStores:
    """Stores on `url` with only the migrations up to `version` applied (as a
    database made by an aiproxy from before the next one would be)."""
    with monkeypatch.context() as m:
        m.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:version])
        s = SQLStores(url)
        await s.open()
    assert await s.schema_version() == version
    return s


async def insert_v1_account(s: SQLStores) -> None:
    # The columns of migration 1 only: the current table description has more.
    await s._db.execute(
        "INSERT INTO accounts (name, platform, type, credentials, base_url, priority, enabled, models,"
        " created_at, updated_at) VALUES (:name, 'claude', 'claude-console', 'enc:c', NULL, 7, :enabled,"
        " :models, :at, :at)",
        {"name": "old-ü", "enabled": True, "models": '["claude-opus-4"]', "at": "2001-02-03 04:05:06"},
    )


async def test_version_1_database_migrates_to_current(sql_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    s = await open_at_version(sql_url, monkeypatch, 1)
    await insert_v1_account(s)
    await s.close()

    s = SQLStores(sql_url)
    await s.open()
    try:
        assert await s.schema_version() == SCHEMA_VERSION
        assert await count_version_rows(s) == len(migrations.MIGRATIONS)
        [old] = await s.accounts.list()
        assert old == Account("old-ü", "claude", "claude-console", credentials="enc:c", priority=7,
                              models=["claude-opus-4"], model_mapping={}, options={}, proxy=None,
                              id=old.id, created_at=OLD, updated_at=OLD)
        # The migrated account takes the new fields like any other.
        changed = dataclasses.replace(old, model_mapping={"x": "y"}, options={"region": "us"}, proxy="socks5://p:1")
        updated = await s.accounts.update(changed)
        assert updated == dataclasses.replace(changed, updated_at=updated.updated_at)
        assert await s.accounts.get(old.id) == updated  # type: ignore[arg-type]
        new = await s.accounts.create(Account("new", "claude", "claude-console", proxy="https://p"))
        assert (await s.accounts.get(new.id)) == new  # type: ignore[arg-type]
    finally:
        await s.close()


async def test_version_3_database_migrates_to_current(sql_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Migration 4: existing accounts and keys get the scheduling defaults."""
    s = await open_at_version(sql_url, monkeypatch, 3)
    await insert_v1_account(s)
    # The api_keys columns of migration 1 only.
    await s._db.execute(
        "INSERT INTO api_keys (user_id, name, key_hash, key_prefix, enabled, expires_at, platforms, models,"
        " created_at, updated_at) VALUES (1, 'old key', 'h' , 'ap-old', :enabled, NULL, '[]', '[]', :at, :at)",
        {"enabled": True, "at": "2001-02-03 04:05:06"},
    )
    await s.close()

    s = SQLStores(sql_url)
    await s.open()
    try:
        assert await s.schema_version() == SCHEMA_VERSION
        assert await count_version_rows(s) == len(migrations.MIGRATIONS)
        [old] = await s.accounts.list()
        assert old == Account("old-ü", "claude", "claude-console", credentials="enc:c", priority=7,
                              models=["claude-opus-4"], weight=1, max_concurrency=None, schedulable=True,
                              group=None, id=old.id, created_at=OLD, updated_at=OLD)
        [key] = await s.keys.list()
        assert key == ApiKey(user_id=1, name="old key", key_hash="h", key_prefix="ap-old", account_id=None,
                             group=None, shared_fallback=False, id=key.id, created_at=OLD, updated_at=OLD)
        # The migrated rows take the new fields like any other.
        changed = await s.accounts.update(dataclasses.replace(old, weight=5, max_concurrency=2, schedulable=False,
                                                              group="g1"))
        assert await s.accounts.get(old.id) == changed  # type: ignore[arg-type]
        bound = await s.keys.update(dataclasses.replace(key, account_id=old.id, group="g1", shared_fallback=True))
        assert await s.keys.get_by_hash("h") == bound
    finally:
        await s.close()


async def test_version_4_database_migrates_to_current(sql_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Migration 5: existing usage records get cost 0, flagged unpriced, and no 1h cache writes."""
    s = await open_at_version(sql_url, monkeypatch, 4)
    # The usage_records columns of migration 1 only.
    await s._db.execute(
        "INSERT INTO usage_records (platform, endpoint, model, user_id, key_id, account_id, stream, status,"
        " input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens, duration_ms, ttfb_ms, error,"
        " created_at) VALUES ('claude', '/v1/messages', 'claude-sonnet-4-5', 1, 2, 3, :stream, 200,"
        " 10, 20, 30, 40, 50, NULL, NULL, :at)",
        {"stream": True, "at": "2001-02-03 04:05:06"},
    )
    await s.close()

    s = SQLStores(sql_url)
    await s.open()
    try:
        assert await s.schema_version() == SCHEMA_VERSION
        assert await count_version_rows(s) == len(migrations.MIGRATIONS)
        [old], _ = await s.usage.query(UsageFilter())
        assert old == UsageRecord("claude", "/v1/messages", "claude-sonnet-4-5", user_id=1, key_id=2, account_id=3,
                                  stream=True, status=200, input_tokens=10, output_tokens=20,
                                  cache_creation_tokens=30, cache_read_tokens=40, duration_ms=50,
                                  cache_creation_1h_tokens=0, cost_usd=0.0, priced=False, id=old.id, created_at=OLD)
        # New records sit beside it, and the totals count the old one as unpriced.
        new = UsageRecord("claude", "/v1/messages", "claude-sonnet-4-5", input_tokens=1, cache_creation_tokens=8,
                          cache_creation_1h_tokens=5, cost_usd=0.000123456, priced=True, created_at=OLD)
        await s.usage.add_many([new])
        stored, _ = await s.usage.query(UsageFilter(), limit=10)
        assert without_id(next(r for r in stored if r.id != old.id)) == new
        [total] = await s.usage.totals(UsageFilter(), "model")
        assert (total.requests, total.cost_usd, total.unpriced) == (2, 0.000123456, 1)
    finally:
        await s.close()


async def test_version_5_database_migrates_to_current(sql_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Migration 6: existing keys get no quotas."""
    s = await open_at_version(sql_url, monkeypatch, 5)
    # The api_keys columns up to migration 5.
    await s._db.execute(
        "INSERT INTO api_keys (user_id, name, key_hash, key_prefix, enabled, expires_at, platforms, models,"
        " created_at, updated_at, account_id, `group`, shared_fallback)"
        " VALUES (1, 'old key', 'h' , 'ap-old', :enabled, NULL, '[]', '[]', :at, :at, NULL, 'g1', :fallback)",
        {"enabled": True, "at": "2001-02-03 04:05:06", "fallback": True},
    )
    await s.close()

    s = SQLStores(sql_url)
    await s.open()
    try:
        assert await s.schema_version() == SCHEMA_VERSION
        assert await count_version_rows(s) == len(migrations.MIGRATIONS)
        [key] = await s.keys.list()
        assert key == ApiKey(user_id=1, name="old key", key_hash="h", key_prefix="ap-old", group="g1",
                             shared_fallback=True, rpm_limit=None, max_concurrency=None, daily_token_limit=None,
                             daily_cost_limit=None, weekly_cost_limit=None, total_cost_limit=None,
                             id=key.id, created_at=OLD, updated_at=OLD)
        # The migrated key takes quotas like any other.
        limited = await s.keys.update(dataclasses.replace(key, rpm_limit=10, max_concurrency=2,
                                                          daily_token_limit=1000, daily_cost_limit=0.5,
                                                          weekly_cost_limit=2.0, total_cost_limit=10.0))
        assert await s.keys.get_by_hash("h") == limited
    finally:
        await s.close()


async def test_version_6_database_migrates_to_current(sql_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Migration 7: existing keys may be used from any client."""
    s = await open_at_version(sql_url, monkeypatch, 6)
    await s._db.execute(
        "INSERT INTO api_keys (user_id, name, key_hash, key_prefix, enabled, expires_at, platforms, models,"
        " created_at, updated_at, account_id, `group`, shared_fallback, rpm_limit)"
        " VALUES (1, 'old key', 'h' , 'ap-old', :enabled, NULL, '[]', '[]', :at, :at, NULL, NULL, :fallback, 5)",
        {"enabled": True, "at": "2001-02-03 04:05:06", "fallback": False},
    )
    await s.close()

    s = SQLStores(sql_url)
    await s.open()
    try:
        assert await s.schema_version() == SCHEMA_VERSION
        [key] = await s.keys.list()
        assert key == ApiKey(user_id=1, name="old key", key_hash="h", key_prefix="ap-old", rpm_limit=5,
                             allowed_clients=[], id=key.id, created_at=OLD, updated_at=OLD)
        limited = await s.keys.update(dataclasses.replace(key, allowed_clients=["claude-code", "gemini-cli"]))
        assert await s.keys.get_by_hash("h") == limited
        assert limited.allowed_clients == ["claude-code", "gemini-cli"]
    finally:
        await s.close()


async def test_version_7_database_migrates_to_current(sql_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Migration 8: existing keys keep their expiry and have no first use yet."""
    s = await open_at_version(sql_url, monkeypatch, 7)
    await s._db.execute(
        "INSERT INTO api_keys (user_id, name, key_hash, key_prefix, enabled, expires_at, platforms, models,"
        " created_at, updated_at, account_id, `group`, shared_fallback, allowed_clients)"
        " VALUES (1, 'old key', 'h' , 'ap-old', :enabled, :at, '[]', '[]', :at, :at, NULL, NULL, :fallback, '[]')",
        {"enabled": True, "at": "2001-02-03 04:05:06", "fallback": False},
    )
    await s.close()

    s = SQLStores(sql_url)
    await s.open()
    try:
        assert await s.schema_version() == SCHEMA_VERSION
        [key] = await s.keys.list()
        assert key == ApiKey(user_id=1, name="old key", key_hash="h", key_prefix="ap-old", expires_at=OLD,
                             expires_after_days=None, first_used_at=None, id=key.id, created_at=OLD, updated_at=OLD)
        later = await s.keys.update(dataclasses.replace(key, expires_after_days=30))
        assert (await s.keys.get_by_hash("h")) == later and later.expires_after_days == 30
    finally:
        await s.close()


async def test_version_8_database_migrates_to_current(sql_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Migration 9: existing users get token version 0, and bump from there."""
    s = await open_at_version(sql_url, monkeypatch, 8)
    # The users columns of migration 1 only (nothing changed them until 9).
    await s._db.execute(
        "INSERT INTO users (username, password_hash, role, enabled, must_change_password, created_at, updated_at)"
        " VALUES ('old-ü', 'hash', 'admin', :enabled, :must, :at, :at)",
        {"enabled": True, "must": False, "at": "2001-02-03 04:05:06"},
    )
    await s.close()

    s = SQLStores(sql_url)
    await s.open()
    try:
        assert await s.schema_version() == SCHEMA_VERSION
        assert await count_version_rows(s) == len(migrations.MIGRATIONS)
        [old] = await s.users.list()
        assert old == User("old-ü", "hash", role="admin", enabled=True, must_change_password=False,
                           token_version=0, id=old.id, created_at=OLD, updated_at=OLD)
        assert await s.users.bump_token_version(old.id) == 1  # type: ignore[arg-type]
        renamed = await s.users.update(dataclasses.replace(old, username="renamed"))
        assert (renamed.username, renamed.token_version) == ("renamed", 1)
        new = await s.users.create(User("new", "h"))
        assert (await s.users.get(new.id)) == new and new.token_version == 0  # type: ignore[arg-type]
    finally:
        await s.close()


async def test_version_9_database_migrates_to_current(sql_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Migration 10: existing usage records have no wire formats (''), and count as not bridged."""
    s = await open_at_version(sql_url, monkeypatch, 9)
    # The usage_records columns up to migration 9 (the last to change them was 5).
    await s._db.execute(
        "INSERT INTO usage_records (platform, endpoint, model, user_id, key_id, account_id, stream, status,"
        " input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens, duration_ms, ttfb_ms, error,"
        " created_at, cache_creation_1h_tokens, cost_usd, priced) VALUES ('claude', 'messages',"
        " 'claude-sonnet-4-5', 1, 2, 3, :stream, 200, 10, 20, 30, 40, 50, NULL, NULL, :at, 5, 0.25, :priced)",
        {"stream": False, "at": "2001-02-03 04:05:06", "priced": True},
    )
    await s.close()

    s = SQLStores(sql_url)
    await s.open()
    try:
        assert await s.schema_version() == SCHEMA_VERSION == 10
        assert await count_version_rows(s) == len(migrations.MIGRATIONS)
        [old], _ = await s.usage.query(UsageFilter())
        assert old == UsageRecord("claude", "messages", "claude-sonnet-4-5", user_id=1, key_id=2, account_id=3,
                                  status=200, input_tokens=10, output_tokens=20, cache_creation_tokens=30,
                                  cache_read_tokens=40, duration_ms=50, cache_creation_1h_tokens=5, cost_usd=0.25,
                                  priced=True, client_format="", upstream_format="", id=old.id, created_at=OLD)
        new = UsageRecord("claude", "messages", "claude-sonnet-4-5", client_format="anthropic-messages",
                          upstream_format="openai-chat", created_at=OLD)
        await s.usage.add_many([new])
        assert [without_id(r) for r in (await s.usage.query(UsageFilter(bridged=True)))[0]] == [new]
        assert (await s.usage.query(UsageFilter(bridged=False)))[0] == [old]
    finally:
        await s.close()


async def test_half_applied_migration_2_completes(sql_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """MySQL commits each ALTER by itself: a start cut short after the first
    column was added, before the version was recorded, must finish next time."""
    s = await open_at_version(sql_url, monkeypatch, 1)
    await insert_v1_account(s)
    first = migrations.MIGRATIONS[1].statements(s.dialect)[0]
    assert isinstance(first, migrations.AddColumn) and first.column == "model_mapping"
    await s._db.execute(sa.DDL(first.sql()))  # type: ignore[no-untyped-call]
    await s.close()

    s = SQLStores(sql_url)
    await s.open()
    try:
        assert await s.schema_version() == SCHEMA_VERSION
        [old] = await s.accounts.list()
        assert (old.model_mapping, old.options, old.proxy) == ({}, {}, None)
    finally:
        await s.close()


async def test_concurrent_open_of_a_new_database(sql_url: str) -> None:
    opened = [SQLStores(sql_url) for _ in range(3)]
    async with anyio.create_task_group() as tg:
        for s in opened:
            tg.start_soon(s.open)
    try:
        for s in opened:
            assert await s.schema_version() == SCHEMA_VERSION
        assert await count_version_rows(opened[0]) == len(migrations.MIGRATIONS)
        user = await opened[0].users.create(User("hana", "h"))
        assert await opened[2].users.get(user.id) == user  # type: ignore[arg-type]
    finally:
        for s in opened:
            await s.close()


async def test_sql_constraints_beyond_memory(sql_url: str) -> None:
    s = SQLStores(sql_url)
    await s.open()
    try:
        # UNIQUE username also holds on update, and key hashes are unique.
        await s.users.create(User("ivan", "h"))
        judy = await s.users.create(User("judy", "h"))
        with pytest.raises(ValueError):
            await s.users.update(dataclasses.replace(judy, username="ivan"))
        await s.keys.create(make_key(1, 1))
        with pytest.raises(ValueError):
            await s.keys.create(make_key(2, 1))

        # Client-supplied usage strings are cut to the column, not lost with the batch.
        long = UsageRecord("claude", "/v1/" + "e" * 400, model="m" * 300, error="x" * 20_000)
        await s.usage.add_many([long, UsageRecord("claude", "/v1/messages")])
        got, total = await s.usage.query(UsageFilter())
        assert total == 2
        assert got[-1].model == "m" * 255 and len(got[-1].endpoint) == 255 and len(got[-1].error or "") == 16_000

        # Aware datetimes are stored as the naive UTC instant they denote.
        aware = datetime(2026, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
        key = await s.keys.create(make_key(1, 2, expires_at=aware))
        assert key.expires_at == datetime(2026, 1, 1, 10, 0)
    finally:
        await s.close()


async def test_sqlite_plain_url_creates_directory_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "aiproxy.db"
    s = SQLStores(f"sqlite:///{path}")
    assert s.url.scheme == "sqlite+aiosqlite"
    await s.open()
    try:
        await s.users.create(User("kim", "h", created_at=T0))
        await s.usage.add_many([UsageRecord("claude", "/v1/messages", created_at=T0)])
    finally:
        await s.close()
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("SELECT username FROM users").fetchall() == [("kim",)]
        # add_many binds outside `databases`; its DATETIME text must be the same
        # as everything else's, or range filters compare mismatched strings.
        stamps = raw.execute("SELECT created_at FROM users UNION ALL SELECT created_at FROM usage_records")
        assert [r[0] for r in stamps] == ["2026-11-24 22:00:00.000000"] * 2


def test_url_normalisation() -> None:
    assert str(normalize_url("sqlite:///data/a.db")) == "sqlite+aiosqlite:///data/a.db"
    assert str(normalize_url("mysql://u:p@db:3306/aiproxy")) == "mysql+asyncmy://u:p@db:3306/aiproxy"
    assert str(normalize_url("mysql+asyncmy://u:p@db/aiproxy")) == "mysql+asyncmy://u:p@db/aiproxy"
    with pytest.raises(ValueError):
        normalize_url("postgresql://u@db/aiproxy")
    with pytest.raises(ValueError):
        SQLStores("sqlite:///:memory:")


def test_tables_match_migrations() -> None:
    """sql_tables.py describes what migrations.py creates: same columns, same order."""
    from aiproxy.stores import sql_tables

    engine = sa.create_engine("sqlite://")
    with engine.begin() as conn:
        conn.exec_driver_sql(migrations.SCHEMA_VERSION_DDL["sqlite"])
        for m in migrations.MIGRATIONS:
            # Shipped text and declared steps alike (a declared migration has no `sqlite` text).
            for statement in m.ddl("sqlite"):
                conn.exec_driver_sql(statement.sql)
        inspector = sa.inspect(conn)
        for table in sql_tables.metadata.tables.values():
            assert [c["name"] for c in inspector.get_columns(table.name)] == [c.name for c in table.columns]
    # And the entities have exactly the columns' fields.
    for entity, table in [(User, sql_tables.users), (ApiKey, sql_tables.api_keys),
                          (Account, sql_tables.accounts), (UsageRecord, sql_tables.usage_records)]:
        assert {f.name for f in dataclasses.fields(entity)} == {c.name for c in table.columns}

