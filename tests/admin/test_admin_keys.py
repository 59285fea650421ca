"""Admin API: /keys (admins: every key; users: only their own)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Callable

import pytest
from starlette.testclient import TestClient

from aiproxy.security.api_keys import KEY_PREFIX, SHOWN_PREFIX_LENGTH
from aiproxy.stores.memory import MemoryStores

from .conftest import Events, run
from .test_admin_api import assert_error

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

KEY_FIELDS = {
    "id",
    "user_id",
    "name",
    "key_prefix",
    "enabled",
    "expires_at",
    "expires_after_days",
    "first_used_at",
    "platforms",
    "models",
    "allowed_clients",
    "account_id",
    "group",
    "shared_fallback",
    "rpm_limit",
    "max_concurrency",
    "daily_token_limit",
    "daily_cost_limit",
    "weekly_cost_limit",
    "total_cost_limit",
    "created_at",
    "updated_at",
}


def test_create_shows_key_once_and_stores_its_hash(
    client: TestClient, admin: dict[str, str], stores: MemoryStores, events: Events
) -> None:
    me = client.get("/me", headers=admin).json()
    r = client.post(
        "/keys",
        json={"name": "ci", "platforms": ["claude"], "models": ["claude-x"], "expires_at": "2030-01-02T03:04:05Z"},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    created = r.json()
    plaintext = created.pop("key")
    assert set(created) == KEY_FIELDS
    assert plaintext.startswith(KEY_PREFIX)
    assert created["key_prefix"] == plaintext[:SHOWN_PREFIX_LENGTH]
    assert created["user_id"] == me["id"] and created["enabled"] is True
    assert created["platforms"] == ["claude"] and created["models"] == ["claude-x"]
    assert created["expires_at"] == "2030-01-02T03:04:05Z"

    stored = run(stores.keys.get(created["id"]))
    assert stored is not None
    assert stored.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert stored.expires_at == datetime(2030, 1, 2, 3, 4, 5) and stored.expires_at.tzinfo is None
    assert events.key_hashes == [stored.key_hash]

    for r in (client.get(f"/keys/{created['id']}", headers=admin), client.get("/keys", headers=admin)):
        assert r.status_code == 200
        assert plaintext not in r.text and stored.key_hash not in r.text and '"key"' not in r.text
    assert client.get(f"/keys/{created['id']}", headers=admin).json() == created
    assert client.get("/keys", headers=admin).json() == {"keys": [created]}


def test_expires_at_with_offset_is_stored_as_naive_utc(
    client: TestClient, admin: dict[str, str], stores: MemoryStores
) -> None:
    created = client.post("/keys", json={"name": "k", "expires_at": "2030-01-02T05:00:00+02:00"}, headers=admin).json()
    assert created["expires_at"] == "2030-01-02T03:00:00Z"
    assert run(stores.keys.get(created["id"])).expires_at == datetime(2030, 1, 2, 3)  # type: ignore[union-attr]


def test_update_and_delete_tell_the_key_cache(
    client: TestClient, admin: dict[str, str], stores: MemoryStores, events: Events
) -> None:
    created = client.post("/keys", json={"name": "k", "expires_at": "2030-01-01"}, headers=admin).json()
    key_hash = run(stores.keys.get(created["id"])).key_hash  # type: ignore[union-attr]
    events.key_hashes.clear()

    r = client.patch(
        f"/keys/{created['id']}",
        json={"name": "renamed", "enabled": False, "expires_at": None, "platforms": [], "models": ["m"]},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["name"], body["enabled"], body["expires_at"], body["models"]) == ("renamed", False, None, ["m"])
    assert events.key_hashes == [key_hash]
    # The hash and prefix are not editable.
    assert run(stores.keys.get(created["id"])).key_hash == key_hash  # type: ignore[union-attr]

    assert client.delete(f"/keys/{created['id']}", headers=admin).json() == {"ok": True}
    assert events.key_hashes == [key_hash, key_hash]
    assert run(stores.keys.get(created["id"])) is None
    assert_error(client.get(f"/keys/{created['id']}", headers=admin), 404, "not_found")


@pytest.mark.parametrize(
    "body,field",
    [
        ({}, "name"),
        ({"name": "  "}, "name"),
        ({"name": "k", "enabled": "no"}, "enabled"),
        ({"name": "k", "expires_at": "tomorrow"}, "expires_at"),
        ({"name": "k", "expires_at": 1700000000}, "expires_at"),
        ({"name": "k", "expires_after_days": 0}, "expires_after_days"),
        ({"name": "k", "expires_after_days": 3651}, "expires_after_days"),
        ({"name": "k", "expires_after_days": "30"}, "expires_after_days"),
        ({"name": "k", "expires_after_days": True}, "expires_after_days"),
        ({"name": "k", "platforms": ["claude", "azure"]}, "platforms"),
        ({"name": "k", "platforms": "claude"}, "platforms"),
        ({"name": "k", "models": [1]}, "models"),
        ({"name": "k", "allowed_clients": ["cursor"]}, "allowed_clients"),
        ({"name": "k", "allowed_clients": "claude-code"}, "allowed_clients"),
        ({"name": "k", "user_id": "1"}, "user_id"),
        ({"name": "k", "user_id": 999}, "user_id"),
    ],
)
def test_create_validation_400(client: TestClient, admin: dict[str, str], body: dict, field: str) -> None:
    error = assert_error(client.post("/keys", json=body, headers=admin), 400, "validation_error")
    assert error["message"].startswith(field + ":"), error["message"]


def test_user_isolation(
    client: TestClient, make_logged_in_user: Callable, admin: dict[str, str], events: Events
) -> None:
    alice, alice_h = make_logged_in_user("alice")
    bob, bob_h = make_logged_in_user("bob")
    a_key = client.post("/keys", json={"name": "alice's"}, headers=alice_h).json()
    b_key = client.post("/keys", json={"name": "bob's"}, headers=bob_h).json()
    assert a_key["user_id"] == alice.id and b_key["user_id"] == bob.id

    # Bob sees only his own key, and alice's looks like it does not exist.
    assert [k["id"] for k in client.get("/keys", headers=bob_h).json()["keys"]] == [b_key["id"]]
    events.key_hashes.clear()
    assert_error(client.get(f"/keys/{a_key['id']}", headers=bob_h), 404, "not_found")
    assert_error(client.patch(f"/keys/{a_key['id']}", json={"enabled": False}, headers=bob_h), 404, "not_found")
    assert_error(client.delete(f"/keys/{a_key['id']}", headers=bob_h), 404, "not_found")
    assert_error(client.get("/keys/9999", headers=bob_h), 404, "not_found")
    assert events.key_hashes == []
    alice_keys = client.get("/keys", headers=alice_h).json()["keys"]
    assert [(k["name"], k["enabled"]) for k in alice_keys] == [("alice's", True)]  # untouched

    # Bob may not look at or create keys for alice by user_id.
    assert_error(client.get(f"/keys?user_id={alice.id}", headers=bob_h), 403, "forbidden")
    assert_error(client.post("/keys", json={"name": "x", "user_id": alice.id}, headers=bob_h), 403, "forbidden")
    # …but naming himself is fine.
    r = client.post("/keys", json={"name": "mine", "user_id": bob.id}, headers=bob_h)
    assert r.status_code == 201 and r.json()["user_id"] == bob.id

    # Bob manages his own key.
    assert client.patch(f"/keys/{b_key['id']}", json={"name": "b2"}, headers=bob_h).json()["name"] == "b2"
    assert client.delete(f"/keys/{b_key['id']}", headers=bob_h).status_code == 200


def test_admin_sees_all_keys_filters_and_creates_for_others(
    client: TestClient, make_logged_in_user: Callable, admin: dict[str, str]
) -> None:
    alice, alice_h = make_logged_in_user("alice")
    a_key = client.post("/keys", json={"name": "alice's"}, headers=alice_h).json()
    own = client.post("/keys", json={"name": "admin's"}, headers=admin).json()
    for_alice = client.post("/keys", json={"name": "given", "user_id": alice.id}, headers=admin)
    assert for_alice.status_code == 201 and for_alice.json()["user_id"] == alice.id

    all_ids = [k["id"] for k in client.get("/keys", headers=admin).json()["keys"]]
    assert all_ids == [a_key["id"], own["id"], for_alice.json()["id"]]
    alice_ids = [k["id"] for k in client.get(f"/keys?user_id={alice.id}", headers=admin).json()["keys"]]
    assert alice_ids == [a_key["id"], for_alice.json()["id"]]
    assert_error(client.get("/keys?user_id=abc", headers=admin), 400, "validation_error", "user_id")

    assert client.patch(f"/keys/{a_key['id']}", json={"enabled": False}, headers=admin).json()["enabled"] is False
    assert client.delete(f"/keys/{a_key['id']}", headers=admin).status_code == 200


QUOTAS = {"rpm_limit": 60, "max_concurrency": 2, "daily_token_limit": 1_000_000,
          "daily_cost_limit": 1.5, "weekly_cost_limit": 5, "total_cost_limit": 0}


def test_allowed_clients_set_returned_and_cleared(
    client: TestClient, admin: dict[str, str], stores: MemoryStores
) -> None:
    plain = client.post("/keys", json={"name": "any"}, headers=admin).json()
    assert plain["allowed_clients"] == []
    r = client.post("/keys", json={"name": "cli", "allowed_clients": ["claude-code", "gemini-cli"]}, headers=admin)
    assert r.status_code == 201, r.text
    assert r.json()["allowed_clients"] == ["claude-code", "gemini-cli"]
    stored = run(stores.keys.get(r.json()["id"]))
    assert stored is not None and stored.allowed_clients == ["claude-code", "gemini-cli"]
    r = client.patch(f"/keys/{r.json()['id']}", json={"allowed_clients": ["codex-cli"]}, headers=admin)
    assert r.status_code == 200 and r.json()["allowed_clients"] == ["codex-cli"]
    r = client.patch(f"/keys/{r.json()['id']}", json={"allowed_clients": []}, headers=admin)
    assert r.status_code == 200 and r.json()["allowed_clients"] == []
    error = assert_error(client.patch(f"/keys/{r.json()['id']}", json={"allowed_clients": ["vim"]}, headers=admin),
                         400, "validation_error")
    assert error["message"].startswith("allowed_clients:")


def test_quotas_are_set_returned_and_cleared(client: TestClient, admin: dict[str, str], stores: MemoryStores) -> None:
    plain = client.post("/keys", json={"name": "plain"}, headers=admin).json()
    assert all(plain[name] is None for name in QUOTAS)
    r = client.post("/keys", json={"name": "limited", **QUOTAS}, headers=admin)
    assert r.status_code == 201, r.text
    limited = r.json()
    assert {name: limited[name] for name in QUOTAS} == QUOTAS
    assert isinstance(limited["weekly_cost_limit"], float) and isinstance(limited["rpm_limit"], int)
    stored = run(stores.keys.get(limited["id"]))
    assert stored is not None and (stored.rpm_limit, stored.daily_cost_limit, stored.total_cost_limit) == (60, 1.5, 0.0)
    r = client.patch(f"/keys/{limited['id']}", json={"rpm_limit": None, "daily_cost_limit": 0.25}, headers=admin)
    assert r.status_code == 200 and (r.json()["rpm_limit"], r.json()["daily_cost_limit"]) == (None, 0.25)
    assert r.json()["max_concurrency"] == 2


@pytest.mark.parametrize(
    "body",
    [{"rpm_limit": 1.5}, {"rpm_limit": -1}, {"max_concurrency": "2"}, {"daily_token_limit": True},
     {"daily_cost_limit": "1"}, {"weekly_cost_limit": -0.01}, {"total_cost_limit": False}],
)
def test_quota_validation_400(client: TestClient, admin: dict[str, str], body: dict) -> None:
    [field] = body
    error = assert_error(client.post("/keys", json={"name": "k", **body}, headers=admin), 400, "validation_error")
    assert error["message"].startswith(field + ":"), error["message"]


def test_only_admins_set_quotas(
    client: TestClient, admin: dict[str, str], make_logged_in_user: Callable, stores: MemoryStores
) -> None:
    bob, bob_h = make_logged_in_user("bob")
    error = assert_error(client.post("/keys", json={"name": "k", "rpm_limit": 5}, headers=bob_h), 403, "forbidden")
    assert error["message"].startswith("rpm_limit:")
    key = client.post("/keys", json={"name": "k"}, headers=bob_h).json()
    r = client.patch(f"/keys/{key['id']}", json={"daily_cost_limit": 2.0}, headers=admin)
    assert r.status_code == 200
    # Bob sees his limit, may send it back unchanged, may not lift it.
    r = client.patch(f"/keys/{key['id']}", json={"name": "k2", "daily_cost_limit": 2, "rpm_limit": None},
                     headers=bob_h)
    assert r.status_code == 200 and r.json()["daily_cost_limit"] == 2.0, r.text
    assert_error(client.patch(f"/keys/{key['id']}", json={"daily_cost_limit": None}, headers=bob_h), 403, "forbidden")
    assert client.get(f"/keys/{key['id']}", headers=bob_h).json()["daily_cost_limit"] == 2.0


def test_expires_after_days_set_and_cleared(client: TestClient, admin: dict[str, str], stores: MemoryStores) -> None:
    created = client.post(
        "/keys", json={"name": "trial", "expires_after_days": 30, "first_used_at": "2020-01-01"}, headers=admin
    ).json()
    # first_used_at is the gateway's to stamp: a client cannot set it.
    assert (created["expires_after_days"], created["first_used_at"]) == (30, None)
    first = datetime(2026, 11, 20, 9, 30)
    run(stores.keys.mark_first_use(created["id"], first))
    shown = client.get(f"/keys/{created['id']}", headers=admin).json()
    assert shown["first_used_at"] == "2026-11-20T09:30:00Z"
    r = client.patch(f"/keys/{created['id']}", json={"expires_after_days": None}, headers=admin)
    assert r.status_code == 200 and r.json()["expires_after_days"] is None
    r = client.patch(f"/keys/{created['id']}", json={"expires_after_days": 3650}, headers=admin)
    assert r.json()["expires_after_days"] == 3650 and r.json()["first_used_at"] == "2026-11-20T09:30:00Z"
