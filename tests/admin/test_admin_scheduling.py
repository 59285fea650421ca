"""Admin API: the scheduling fields of accounts and keys, account health
(`status` from the monitor, `today`'s usage), /reset and /test."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable

import pytest
from starlette.testclient import TestClient

from aiproxy.admin.context import AdminContext
from aiproxy.scheduler.status import AccountStatus
from aiproxy.stores.entities import UsageRecord
from aiproxy.stores.memory import MemoryStores

from .conftest import Events, run
from .test_admin_accounts import valid_account
from .test_admin_api import assert_error

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

ZERO_TODAY = {"requests": 0, "input_tokens": 0, "output_tokens": 0, "cache_creation_tokens": 0,
              "cache_read_tokens": 0}
OK_STATUS = {"state": "ok", "reason": "", "until": None, "last_error": None, "last_error_at": None,
             "last_used": None, "concurrency": 0}


class FakeMonitor:
    """Answers the statuses it is given; records every call."""

    def __init__(self) -> None:
        self.statuses: dict[int, AccountStatus] = {}
        self.status_calls: list[list[int]] = []
        self.resets: list[int] = []

    async def status(self, account_ids: Iterable[int]) -> dict[int, AccountStatus]:
        ids = list(account_ids)
        self.status_calls.append(ids)
        return {i: self.statuses[i] for i in ids if i in self.statuses}

    async def reset(self, account_id: int) -> None:
        self.resets.append(account_id)
        self.statuses.pop(account_id, None)


@pytest.fixture
def monitor(ctx: AdminContext) -> FakeMonitor:
    fake = FakeMonitor()
    ctx.monitor = fake
    return fake


def create(client: TestClient, admin: dict[str, str], **fields: Any) -> dict[str, Any]:
    r = client.post("/accounts", json=valid_account(**fields), headers=admin)
    assert r.status_code == 201, r.text
    return r.json()


# --- account fields -------------------------------------------------------------


def test_account_scheduling_fields_default_set_and_patch(
    client: TestClient, admin: dict[str, str], stores: MemoryStores, events: Events
) -> None:
    plain = create(client, admin)
    assert (plain["weight"], plain["max_concurrency"], plain["schedulable"], plain["group"]) == (1, None, True, None)

    full = create(client, admin, weight=1000, max_concurrency=10000, schedulable=False, group="Team_a.1-x")
    assert (full["weight"], full["max_concurrency"], full["schedulable"], full["group"]) == (
        1000, 10000, False, "Team_a.1-x")
    stored = run(stores.accounts.get(full["id"]))
    assert stored is not None and (stored.weight, stored.max_concurrency, stored.schedulable, stored.group) == (
        1000, 10000, False, "Team_a.1-x")

    events.account_changes = 0
    r = client.patch(f"/accounts/{full['id']}", json={"weight": 3, "max_concurrency": None, "schedulable": True,
                                                      "group": None}, headers=admin)
    assert r.status_code == 200, r.text
    assert (r.json()["weight"], r.json()["max_concurrency"], r.json()["schedulable"], r.json()["group"]) == (
        3, None, True, None)
    assert events.account_changes == 1
    # Fields not sent are kept.
    r = client.patch(f"/accounts/{full['id']}", json={"max_concurrency": 1, "group": "g" * 64}, headers=admin)
    assert (r.json()["weight"], r.json()["max_concurrency"], r.json()["group"]) == (3, 1, "g" * 64)


@pytest.mark.parametrize(
    "field,value",
    [
        ("weight", 0),
        ("weight", 1001),
        ("weight", None),
        ("weight", "2"),
        ("weight", 1.5),
        ("weight", True),
        ("max_concurrency", 0),
        ("max_concurrency", 10001),
        ("max_concurrency", "5"),
        ("max_concurrency", False),
        ("schedulable", 1),
        ("schedulable", None),
        ("group", ""),
        ("group", "g" * 65),
        ("group", "has space"),
        ("group", "ünï"),
        ("group", " padded"),
        ("group", 5),
        ("group", ["a"]),
    ],
)
def test_account_scheduling_validation(
    client: TestClient, admin: dict[str, str], field: str, value: Any
) -> None:
    error = assert_error(client.post("/accounts", json=valid_account(**{field: value}), headers=admin),
                         400, "validation_error")
    assert error["message"].startswith(field + ":"), error["message"]
    created = create(client, admin)
    error = assert_error(client.patch(f"/accounts/{created['id']}", json={field: value}, headers=admin),
                         400, "validation_error")
    assert error["message"].startswith(field + ":"), error["message"]


# --- status and today -------------------------------------------------------------


def test_without_a_monitor_status_is_null(client: TestClient, admin: dict[str, str]) -> None:
    created = create(client, admin)
    assert created["status"] is None and created["today"] == ZERO_TODAY
    assert client.get(f"/accounts/{created['id']}", headers=admin).json()["status"] is None


def test_status_comes_from_the_monitor_in_one_call(
    client: TestClient, admin: dict[str, str], monitor: FakeMonitor
) -> None:
    a = create(client, admin, name="a")
    b = create(client, admin, name="b")
    c = create(client, admin, name="c")
    until = datetime(2026, 11, 26, 7, 30, tzinfo=timezone.utc).timestamp()
    monitor.statuses[a["id"]] = AccountStatus(
        state="rate_limited", reason="429 from upstream", until=until - 0.25,
        last_error="rate limited", last_error_at=until - 3600.75, last_used=until - 60, concurrency=2)
    monitor.statuses[b["id"]] = AccountStatus(state="error", reason="401 from upstream", last_error="invalid key")
    monitor.status_calls.clear()

    accounts = client.get("/accounts", headers=admin).json()["accounts"]
    assert monitor.status_calls == [[a["id"], b["id"], c["id"]]]
    by_id = {x["id"]: x for x in accounts}
    assert by_id[a["id"]]["status"] == {
        "state": "rate_limited",
        "reason": "429 from upstream",
        "until": "2026-11-26T07:30:00Z",  # rounded up to the second
        "last_error": "rate limited",
        "last_error_at": "2026-11-26T06:29:59Z",  # rounded down
        "last_used": "2026-11-26T07:29:00Z",
        "concurrency": 2,
    }
    assert by_id[b["id"]]["status"] == {**OK_STATUS, "state": "error", "reason": "401 from upstream",
                                        "last_error": "invalid key"}
    # No record: "ok".
    assert by_id[c["id"]]["status"] == OK_STATUS

    monitor.status_calls.clear()
    assert client.get(f"/accounts/{a['id']}", headers=admin).json()["status"]["state"] == "rate_limited"
    assert monitor.status_calls == [[a["id"]]]
    assert client.get("/accounts", headers=admin).json() == {"accounts": accounts}


def test_today_counts_usage_since_midnight_utc(
    client: TestClient, admin: dict[str, str], stores: MemoryStores, monitor: FakeMonitor
) -> None:
    a = create(client, admin, name="a")
    b = create(client, admin, name="b")
    c = create(client, admin, name="c")
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    run(stores.usage.add_many([
        UsageRecord("claude", "/v1/messages", account_id=a["id"], input_tokens=10, output_tokens=5,
                    cache_creation_tokens=3, cache_read_tokens=7, created_at=midnight),
        UsageRecord("claude", "/v1/messages", account_id=a["id"], input_tokens=1, output_tokens=2, created_at=now),
        UsageRecord("claude", "/v1/messages", account_id=b["id"], input_tokens=100, created_at=now),
        # Yesterday, and no account: not counted.
        UsageRecord("claude", "/v1/messages", account_id=a["id"], input_tokens=999,
                    created_at=midnight - timedelta(seconds=1)),
        UsageRecord("claude", "/v1/messages", account_id=None, input_tokens=999, created_at=now),
    ]))
    by_id = {x["id"]: x for x in client.get("/accounts", headers=admin).json()["accounts"]}
    assert by_id[a["id"]]["today"] == {"requests": 2, "input_tokens": 11, "output_tokens": 7,
                                       "cache_creation_tokens": 3, "cache_read_tokens": 7}
    assert by_id[b["id"]]["today"] == {**ZERO_TODAY, "requests": 1, "input_tokens": 100}
    assert by_id[c["id"]]["today"] == ZERO_TODAY
    assert client.get(f"/accounts/{a['id']}", headers=admin).json()["today"] == by_id[a["id"]]["today"]
    assert client.patch(f"/accounts/{b['id']}", json={"weight": 2}, headers=admin).json()["today"] == \
        by_id[b["id"]]["today"]


# --- reset and test -------------------------------------------------------------------


def test_reset_clears_the_state_and_answers_the_account(
    client: TestClient, admin: dict[str, str], monitor: FakeMonitor,
    make_logged_in_user: Callable,
) -> None:
    a = create(client, admin)
    monitor.statuses[a["id"]] = AccountStatus(state="overloaded", reason="529", until=None)
    r = client.post(f"/accounts/{a['id']}/reset", headers=admin)
    assert r.status_code == 200, r.text
    assert monitor.resets == [a["id"]]
    body = r.json()
    assert body["id"] == a["id"] and body["status"] == OK_STATUS
    assert body == client.get(f"/accounts/{a['id']}", headers=admin).json()

    assert_error(client.post("/accounts/999/reset", headers=admin), 404, "not_found")
    _, user = make_logged_in_user("bob")
    assert_error(client.post(f"/accounts/{a['id']}/reset", headers=user), 403, "forbidden")
    assert_error(client.get(f"/accounts/{a['id']}/reset", headers=admin), 405, "method_not_allowed")
    assert monitor.resets == [a["id"]]


def test_reset_without_a_monitor_is_501(client: TestClient, admin: dict[str, str]) -> None:
    a = create(client, admin)
    assert_error(client.post(f"/accounts/{a['id']}/reset", headers=admin), 501, "not_implemented")


def test_test_calls_the_tester(
    client: TestClient, admin: dict[str, str], ctx: AdminContext, make_logged_in_user: Callable
) -> None:
    a = create(client, admin)
    assert_error(client.post(f"/accounts/{a['id']}/test", headers=admin), 501, "not_implemented")

    tested: list[int] = []

    async def fake_test(account_id: int) -> dict[str, Any]:
        tested.append(account_id)
        return {"ok": False, "status": 401, "latency_ms": 12, "message": "invalid x-api-key"}

    ctx.test_account = fake_test
    r = client.post(f"/accounts/{a['id']}/test", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json() == {"ok": False, "status": 401, "latency_ms": 12, "message": "invalid x-api-key"}
    assert tested == [a["id"]]

    assert_error(client.post("/accounts/999/test", headers=admin), 404, "not_found")
    _, user = make_logged_in_user("bob")
    assert_error(client.post(f"/accounts/{a['id']}/test", headers=user), 403, "forbidden")
    assert tested == [a["id"]]


# --- key bindings -------------------------------------------------------------------


def test_admin_binds_keys_to_an_account_or_a_group(
    client: TestClient, admin: dict[str, str], stores: MemoryStores, events: Events
) -> None:
    a = create(client, admin)
    plain = client.post("/keys", json={"name": "k"}, headers=admin).json()
    assert (plain["account_id"], plain["group"], plain["shared_fallback"]) == (None, None, False)

    r = client.post("/keys", json={"name": "bound", "account_id": a["id"], "shared_fallback": True}, headers=admin)
    assert r.status_code == 201, r.text
    bound = r.json()
    assert (bound["account_id"], bound["group"], bound["shared_fallback"]) == (a["id"], None, True)
    stored = run(stores.keys.get(bound["id"]))
    assert stored is not None and (stored.account_id, stored.shared_fallback) == (a["id"], True)

    # Any valid group name, whether or not an account has it.
    r = client.post("/keys", json={"name": "grouped", "group": "nobody-has-this"}, headers=admin)
    assert r.status_code == 201 and r.json()["group"] == "nobody-has-this"

    # Re-bound from the account to a group, and unbound again; each change tells the key cache.
    events.key_hashes.clear()
    r = client.patch(f"/keys/{bound['id']}", json={"account_id": None, "group": "team-a"}, headers=admin)
    assert r.status_code == 200, r.text
    assert (r.json()["account_id"], r.json()["group"], r.json()["shared_fallback"]) == (None, "team-a", True)
    r = client.patch(f"/keys/{bound['id']}", json={"group": None, "shared_fallback": False}, headers=admin)
    assert (r.json()["account_id"], r.json()["group"], r.json()["shared_fallback"]) == (None, None, False)
    assert events.key_hashes == [stored.key_hash] * 2


@pytest.mark.parametrize(
    "body,field",
    [
        ({"account_id": 999}, "account_id"),
        ({"account_id": "1"}, "account_id"),
        ({"account_id": True}, "account_id"),
        ({"group": ""}, "group"),
        ({"group": "a b"}, "group"),
        ({"group": "x" * 65}, "group"),
        ({"group": 3}, "group"),
        ({"shared_fallback": "yes"}, "shared_fallback"),
        ({"shared_fallback": None}, "shared_fallback"),
        ({"account_id": "ACCOUNT", "group": "g"}, "account_id"),  # one binding at a time
    ],
)
def test_key_binding_validation(client: TestClient, admin: dict[str, str], body: dict, field: str) -> None:
    a = create(client, admin)
    body = {k: (a["id"] if v == "ACCOUNT" else v) for k, v in body.items()}
    error = assert_error(client.post("/keys", json={"name": "k", **body}, headers=admin), 400, "validation_error")
    assert error["message"].startswith(field + ":"), error["message"]
    key = client.post("/keys", json={"name": "k"}, headers=admin).json()
    error = assert_error(client.patch(f"/keys/{key['id']}", json=body, headers=admin), 400, "validation_error")
    assert error["message"].startswith(field + ":"), error["message"]


def test_a_key_bound_to_an_account_cannot_also_get_a_group(client: TestClient, admin: dict[str, str]) -> None:
    a = create(client, admin)
    key = client.post("/keys", json={"name": "k", "account_id": a["id"]}, headers=admin).json()
    error = assert_error(client.patch(f"/keys/{key['id']}", json={"group": "g"}, headers=admin),
                         400, "validation_error")
    assert error["message"].startswith("group:")


@pytest.mark.parametrize("binding", [{"account_id": "ACCOUNT"}, {"group": "team-a"}, {"shared_fallback": True}])
def test_only_admins_bind_keys(
    client: TestClient, admin: dict[str, str], make_logged_in_user: Callable, stores: MemoryStores,
    binding: dict,
) -> None:
    a = create(client, admin)
    binding = {k: (a["id"] if v == "ACCOUNT" else v) for k, v in binding.items()}
    [(field, _)] = binding.items()
    bob, bob_h = make_logged_in_user("bob")

    error = assert_error(client.post("/keys", json={"name": "k", **binding}, headers=bob_h), 403, "forbidden")
    assert error["message"].startswith(field + ":")
    assert run(stores.keys.list()) == []

    key = client.post("/keys", json={"name": "k"}, headers=bob_h).json()
    assert_error(client.patch(f"/keys/{key['id']}", json=binding, headers=bob_h), 403, "forbidden")
    # Sending back the values the key already has is no change, and allowed.
    r = client.patch(f"/keys/{key['id']}", json={"name": "k2", "account_id": None, "group": None,
                                                 "shared_fallback": False}, headers=bob_h)
    assert r.status_code == 200, r.text

    # An admin binds bob's key; bob still sees the binding, may keep it, may not change it.
    r = client.patch(f"/keys/{key['id']}", json=binding, headers=admin)
    assert r.status_code == 200 and r.json()[field] == binding[field]
    mine = client.get(f"/keys/{key['id']}", headers=bob_h).json()
    assert mine[field] == binding[field]
    r = client.patch(f"/keys/{key['id']}", json={"name": "k3", **binding}, headers=bob_h)
    assert r.status_code == 200, r.text
    unbind = {field: False if field == "shared_fallback" else None}
    assert_error(client.patch(f"/keys/{key['id']}", json=unbind, headers=bob_h), 403, "forbidden")
    assert client.get(f"/keys/{key['id']}", headers=bob_h).json()[field] == binding[field]
