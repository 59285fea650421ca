"""Admin API: /usage totals and /usage/records."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Callable

import pytest
from starlette.testclient import TestClient

from aiproxy.stores.entities import UsageRecord, utcnow
from aiproxy.stores.memory import MemoryStores

from .conftest import run
from .test_admin_api import assert_error

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

ALICE, BOB = 10, 20  # user ids on the records; the users themselves are made per test


def record(user_id: int, model: str, *, at: datetime | None = None, **fields: object) -> UsageRecord:
    defaults: dict = {
        "platform": "claude",
        "endpoint": "/v1/messages",
        "key_id": user_id + 1,
        "account_id": 1,
        "status": 200,
        "input_tokens": 100,
        "output_tokens": 10,
        "cache_creation_tokens": 2,
        "cache_read_tokens": 1,
        "cache_creation_1h_tokens": 1,
        "cost_usd": 0.000125,
        "client_format": "anthropic-messages",
        "upstream_format": "anthropic-messages",
    }
    defaults.update(fields)
    return UsageRecord(model=model, user_id=user_id, created_at=at or utcnow(), **defaults)


@pytest.fixture
def seeded(stores: MemoryStores) -> list[UsageRecord]:
    now = utcnow()
    records = [
        record(ALICE, "opus", at=now - timedelta(minutes=5)),
        record(ALICE, "opus", at=now - timedelta(minutes=4), account_id=2, upstream_format="gemini"),
        record(ALICE, "haiku", at=now - timedelta(minutes=3), status=429, error="rate limited", cost_usd=0.0,
               priced=False),
        record(BOB, "opus", at=now - timedelta(minutes=2), platform="openai"),
        record(BOB, "haiku", at=now),  # this very second: still inside the default window
        record(ALICE, "opus", at=now - timedelta(days=8)),  # outside the default window
        record(BOB, "old", at=datetime(2026, 1, 15, 12), client_format="", upstream_format=""),  # from before
        record(BOB, "old", at=datetime(2026, 1, 31, 23, 59, 59)),
        record(BOB, "old", at=datetime(2026, 2, 1)),
    ]
    run(stores.usage.add_many(records))
    return records


def groups(r) -> dict:
    assert r.status_code == 200, r.text
    return {t["group"]: t for t in r.json()["totals"]}


def test_totals_default_window_and_group(client: TestClient, admin: dict[str, str], seeded: list) -> None:
    r = client.get("/usage", headers=admin)
    body = r.json()
    assert body["group_by"] == "model"
    start = datetime.fromisoformat(body["start"].removesuffix("Z"))
    end = datetime.fromisoformat(body["end"].removesuffix("Z"))
    assert body["start"].endswith("Z") and body["end"].endswith("Z")
    assert end - start == timedelta(days=7)
    totals = groups(r)
    assert set(totals) == {"opus", "haiku"}
    assert totals["opus"] == {
        "group": "opus",
        "requests": 3,
        "input_tokens": 300,
        "output_tokens": 30,
        "cache_creation_tokens": 6,
        "cache_read_tokens": 3,
        "cost_usd": 0.000375,
        "unpriced": 0,
        "errors": 0,
    }
    assert totals["haiku"]["requests"] == 2
    assert (totals["haiku"]["cost_usd"], totals["haiku"]["unpriced"]) == (0.000125, 1)
    assert totals["haiku"]["errors"] == 1  # the 429
    assert body["totals"][0]["group"] == "opus"  # largest first


def test_totals_group_by_and_filters(client: TestClient, admin: dict[str, str], seeded: list) -> None:
    assert {g: t["requests"] for g, t in groups(client.get("/usage?group_by=user", headers=admin)).items()} == {
        ALICE: 3,
        BOB: 2,
    }
    assert set(groups(client.get("/usage?group_by=key", headers=admin))) == {ALICE + 1, BOB + 1}
    assert set(groups(client.get("/usage?group_by=account", headers=admin))) == {1, 2}
    assert set(groups(client.get("/usage?group_by=platform", headers=admin))) == {"claude", "openai"}

    def requests(query: str) -> int:
        return sum(t["requests"] for t in groups(client.get(f"/usage?{query}", headers=admin)).values())

    assert requests(f"user_id={ALICE}") == 3
    assert requests(f"key_id={BOB + 1}") == 2
    assert requests("account_id=2") == 1
    assert requests("model=haiku") == 2
    assert requests("platform=openai") == 1
    assert requests(f"user_id={ALICE}&model=opus") == 2


def test_totals_explicit_dates_end_date_is_inclusive(client: TestClient, admin: dict[str, str], seeded: list) -> None:
    r = client.get("/usage?group_by=day&start=2026-01-01&end=2026-01-31", headers=admin)
    body = r.json()
    assert (body["start"], body["end"]) == ("2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z")
    assert {g: t["requests"] for g, t in groups(r).items()} == {"2026-01-15": 1, "2026-01-31": 1}
    # Datetimes are exact (end exclusive), and offsets are converted to UTC.
    r = client.get(
        "/usage", params={"start": "2026-01-31T23:00:00Z", "end": "2026-02-01T01:00:00+01:00"}, headers=admin
    )
    assert {g: t["requests"] for g, t in groups(r).items()} == {"old": 1}


@pytest.mark.parametrize(
    "query,field",
    [
        ("group_by=week", "group_by"),
        ("start=yesterday", "start"),
        ("end=2026-13-01", "end"),
        ("start=2026-02-01&end=2026-01-01", "start"),
        ("key_id=x", "key_id"),
        ("user_id=0", "user_id"),
        ("platform=azure", "platform"),
        ("bridged=yes", "bridged"),
    ],
)
def test_totals_validation_400(client: TestClient, admin: dict[str, str], query: str, field: str) -> None:
    error = assert_error(client.get(f"/usage?{query}", headers=admin), 400, "validation_error")
    assert error["message"].startswith(field + ":"), error["message"]


def test_records_paging_and_filters(client: TestClient, admin: dict[str, str], seeded: list) -> None:
    r = client.get("/usage/records?limit=2", headers=admin)
    body = r.json()
    assert (body["total"], body["offset"], body["limit"]) == (len(seeded), 0, 2)
    # Newest first: the one stamped now (id 5), then two minutes ago (id 4).
    assert [rec["id"] for rec in body["records"]] == [5, 4]

    page = client.get("/usage/records?offset=8&limit=5", headers=admin).json()
    assert [rec["id"] for rec in page["records"]] == [7]  # the oldest: 2026-01-15

    failed = client.get("/usage/records?status=429", headers=admin).json()
    assert failed["total"] == 1
    rec = failed["records"][0]
    assert set(rec) == {f.name for f in dataclasses.fields(UsageRecord)} | {"bridged"}
    assert rec["error"] == "rate limited" and rec["model"] == "haiku" and rec["user_id"] == ALICE
    assert rec["created_at"].endswith("Z") and rec["stream"] is False and rec["ttfb_ms"] is None
    assert (rec["cost_usd"], rec["priced"], rec["cache_creation_1h_tokens"]) == (0.0, False, 1)
    newest = body["records"][0]
    assert (newest["cost_usd"], newest["priced"], newest["cache_creation_1h_tokens"]) == (0.000125, True, 1)

    jan = client.get("/usage/records?start=2026-01-01&end=2026-01-31&model=old", headers=admin).json()
    assert jan["total"] == 2
    assert client.get(f"/usage/records?user_id={BOB}", headers=admin).json()["total"] == 5
    assert client.get("/usage/records", headers=admin).json()["limit"] == 50


def test_records_show_and_filter_what_was_bridged(client: TestClient, admin: dict[str, str], seeded: list) -> None:
    bridged = client.get("/usage/records?bridged=true", headers=admin).json()
    assert [(r["id"], r["client_format"], r["upstream_format"], r["bridged"]) for r in bridged["records"]] == [
        (2, "anthropic-messages", "gemini", True)]
    native = client.get("/usage/records?bridged=false&limit=500", headers=admin).json()
    assert native["total"] == len(seeded) - 1 and not any(r["bridged"] for r in native["records"])
    old = next(r for r in native["records"] if r["id"] == 7)
    assert (old["client_format"], old["upstream_format"]) == ("", "")  # written before the formats were kept
    # Totals and series take the filter too.
    [opus] = client.get("/usage?bridged=true", headers=admin).json()["totals"]
    assert (opus["group"], opus["requests"]) == ("opus", 1)
    assert client.get("/usage?bridged=", headers=admin).status_code == 200  # empty: no filter


@pytest.mark.parametrize("query,field", [("limit=0", "limit"), ("limit=501", "limit"), ("offset=-1", "offset")])
def test_records_paging_validation_400(client: TestClient, admin: dict[str, str], query: str, field: str) -> None:
    assert_error(client.get(f"/usage/records?{query}", headers=admin), 400, "validation_error", field)
    assert client.get("/usage/records?limit=500", headers=admin).status_code == 200


def test_normal_user_sees_only_own_usage(
    client: TestClient, stores: MemoryStores, make_logged_in_user: Callable, admin: dict[str, str]
) -> None:
    alice, alice_h = make_logged_in_user("alice")
    bob, bob_h = make_logged_in_user("bob")
    run(
        stores.usage.add_many(
            [
                record(alice.id, "opus"),
                record(alice.id, "haiku"),
                record(bob.id, "opus"),
            ]
        )
    )
    assert {g: t["requests"] for g, t in groups(client.get("/usage", headers=alice_h)).items()} == {
        "opus": 1,
        "haiku": 1,
    }
    assert set(groups(client.get("/usage?group_by=user", headers=bob_h))) == {bob.id}
    # Filtering on someone else's key only narrows further; it never widens.
    assert groups(client.get(f"/usage?key_id={bob.id + 1}", headers=alice_h)) == {}

    own = client.get("/usage/records", headers=alice_h).json()
    assert own["total"] == 2 and {r["user_id"] for r in own["records"]} == {alice.id}
    assert client.get(f"/usage/records?user_id={alice.id}", headers=alice_h).json()["total"] == 2

    assert_error(client.get(f"/usage?user_id={bob.id}", headers=alice_h), 403, "forbidden")
    assert_error(client.get(f"/usage/records?user_id={bob.id}", headers=alice_h), 403, "forbidden")
    # The admin sees everyone.
    assert client.get("/usage/records", headers=admin).json()["total"] == 3


def test_series_by_day_over_a_range(client: TestClient, admin: dict[str, str], seeded: list) -> None:
    r = client.get("/usage/series?start=2026-01-30&end=2026-02-01&group_by=model", headers=admin)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["interval"], body["group_by"]) == ("day", "model")
    assert (body["start"], body["end"]) == ("2026-01-30T00:00:00Z", "2026-02-02T00:00:00Z")
    # Every day of the window, empty ones too, so a chart's axis is complete.
    assert body["buckets"] == ["2026-01-30", "2026-01-31", "2026-02-01"]
    assert [(row["bucket"], row["group"], row["requests"]) for row in body["rows"]] == [
        ("2026-01-31", "old", 1),
        ("2026-02-01", "old", 1),
    ]
    assert body["rows"][0]["output_tokens"] == 10 and body["rows"][0]["cost_usd"] == 0.000125


def test_series_default_windows(client: TestClient, admin: dict[str, str], seeded: list) -> None:
    days = client.get("/usage/series", headers=admin).json()
    assert days["group_by"] is None and len(days["buckets"]) == 7
    assert days["buckets"][-1] == utcnow().strftime("%Y-%m-%d")
    assert days["start"] == days["buckets"][0] + "T00:00:00Z"
    # The five records of the last minutes, in one group (no group_by), in today's bucket
    # (or yesterday's too, if this runs across midnight).
    assert sum(row["requests"] for row in days["rows"]) == 5
    assert {row["group"] for row in days["rows"]} == {None}

    hours = client.get("/usage/series?interval=hour&group_by=user", headers=admin).json()
    assert len(hours["buckets"]) == 24 and hours["buckets"][-1] == utcnow().strftime("%Y-%m-%dT%H:00:00Z")
    per_user: dict = {}
    for row in hours["rows"]:
        assert row["bucket"] in hours["buckets"]
        per_user[row["group"]] = per_user.get(row["group"], 0) + row["requests"]
    assert per_user == {ALICE: 3, BOB: 2}


def test_series_matches_totals(client: TestClient, admin: dict[str, str], seeded: list) -> None:
    """Summed over its buckets, a series gives the totals of the same window."""
    q = "start=2026-01-01&end=2026-12-31"
    series = client.get(f"/usage/series?{q}&group_by=model", headers=admin).json()
    totals = groups(client.get(f"/usage?{q}&group_by=model", headers=admin))
    summed: dict = {}
    for row in series["rows"]:
        s = summed.setdefault(row["group"], {"requests": 0, "input_tokens": 0, "cache_read_tokens": 0})
        for name in s:
            s[name] += row[name]
    assert summed == {g: {n: t[n] for n in ("requests", "input_tokens", "cache_read_tokens")} for g, t in totals.items()}


@pytest.mark.parametrize(
    "query,field",
    [
        ("interval=week", "interval"),
        ("group_by=day", "group_by"),
        ("interval=hour&start=2026-01-01&end=2026-12-31", "start"),
        ("start=2026-02-01&end=2026-01-01", "start"),
    ],
)
def test_series_validation_400(client: TestClient, admin: dict[str, str], query: str, field: str) -> None:
    assert_error(client.get(f"/usage/series?{query}", headers=admin), 400, "validation_error", field)


def test_series_normal_user_sees_only_own(
    client: TestClient, stores: MemoryStores, make_logged_in_user: Callable
) -> None:
    alice, alice_h = make_logged_in_user("alice")
    bob, _ = make_logged_in_user("bob")
    run(stores.usage.add_many([record(alice.id, "opus"), record(bob.id, "opus"), record(bob.id, "haiku")]))
    body = client.get("/usage/series?group_by=user", headers=alice_h).json()
    assert [(row["group"], row["requests"]) for row in body["rows"]] == [(alice.id, 1)]
    assert_error(client.get(f"/usage/series?user_id={bob.id}", headers=alice_h), 403, "forbidden")
