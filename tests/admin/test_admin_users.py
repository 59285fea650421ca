"""Admin API: /users (admin only)."""

from __future__ import annotations

from typing import Callable

import pytest
from starlette.testclient import TestClient

from aiproxy.security.passwords import verify_password
from aiproxy.stores.entities import ApiKey
from aiproxy.stores.memory import MemoryStores

from .conftest import USER_PASSWORD, Events, bearer, login, run
from .test_admin_api import assert_error

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")


def create(client: TestClient, admin: dict[str, str], **fields: object):
    body = {"username": "carol", "password": USER_PASSWORD, "role": "user", **fields}
    return client.post("/users", json=body, headers=admin)


def test_user_crud(client: TestClient, admin: dict[str, str], stores: MemoryStores) -> None:
    r = create(client, admin)
    assert r.status_code == 201, r.text
    carol = r.json()
    assert carol["username"] == "carol" and carol["role"] == "user"
    assert carol["enabled"] is True and carol["must_change_password"] is False
    assert USER_PASSWORD not in r.text and "password_hash" not in carol and "$argon2" not in r.text

    users = client.get("/users", headers=admin).json()["users"]
    assert [u["username"] for u in users] == ["admin", "carol"]
    assert client.get(f"/users/{carol['id']}", headers=admin).json() == carol

    r = client.patch(
        f"/users/{carol['id']}",
        json={"role": "admin", "enabled": False, "must_change_password": True, "password": "new-password-9"},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    patched = r.json()
    assert (patched["role"], patched["enabled"], patched["must_change_password"]) == ("admin", False, True)
    stored = run(stores.users.get(carol["id"]))
    assert stored is not None and verify_password(stored.password_hash, "new-password-9")

    assert client.delete(f"/users/{carol['id']}", headers=admin).json() == {"ok": True, "deleted_keys": 0}
    assert_error(client.get(f"/users/{carol['id']}", headers=admin), 404, "not_found")
    assert_error(client.patch(f"/users/{carol['id']}", json={}, headers=admin), 404)
    assert_error(client.delete(f"/users/{carol['id']}", headers=admin), 404)


def test_created_user_can_log_in(client: TestClient, admin: dict[str, str]) -> None:
    create(client, admin, must_change_password=True)
    r = client.post("/login", json={"username": "carol", "password": USER_PASSWORD})
    assert r.status_code == 200 and r.json()["must_change_password"] is True


def test_duplicate_username_409(client: TestClient, admin: dict[str, str]) -> None:
    assert create(client, admin).status_code == 201
    assert_error(create(client, admin), 409, "conflict", "username")
    assert_error(create(client, admin, username="admin"), 409, "conflict")
    other = create(client, admin, username="dave").json()
    assert_error(client.patch(f"/users/{other['id']}", json={"username": "carol"}, headers=admin), 409)


@pytest.mark.parametrize(
    "fields,field",
    [
        ({"username": ""}, "username"),
        ({"username": None}, "username"),
        ({"password": "short"}, "password"),
        ({"role": "root"}, "role"),
        ({"enabled": "yes"}, "enabled"),
    ],
)
def test_create_validation_400(client: TestClient, admin: dict[str, str], fields: dict, field: str) -> None:
    assert_error(create(client, admin, **fields), 400, "validation_error", field)


def test_missing_username_400(client: TestClient, admin: dict[str, str]) -> None:
    r = client.post("/users", json={"password": USER_PASSWORD}, headers=admin)
    assert_error(r, 400, "validation_error", "username")


def test_admin_cannot_delete_demote_or_disable_self(client: TestClient, admin: dict[str, str]) -> None:
    me = client.get("/me", headers=admin).json()
    assert_error(client.delete(f"/users/{me['id']}", headers=admin), 400, "validation_error", "yourself")
    assert_error(client.patch(f"/users/{me['id']}", json={"role": "user"}, headers=admin), 400, mentions="role")
    assert_error(client.patch(f"/users/{me['id']}", json={"enabled": False}, headers=admin), 400, mentions="enabled")
    after = client.get("/me", headers=admin).json()
    assert after["role"] == "admin" and after["enabled"] is True
    # Changing other things about oneself is fine.
    assert client.patch(f"/users/{me['id']}", json={"username": "root"}, headers=admin).status_code == 200


def test_deleting_a_user_deletes_their_keys_and_token(
    client: TestClient, admin: dict[str, str], stores: MemoryStores, events: Events
) -> None:
    carol = create(client, admin).json()
    carol_h = bearer(login(client, "carol", USER_PASSWORD))
    created = [client.post("/keys", json={"name": f"k{i}"}, headers=carol_h).json() for i in range(2)]
    hashes = [run(stores.keys.get(k["id"])).key_hash for k in created]  # type: ignore[union-attr]
    admin_key = client.post("/keys", json={"name": "admin's"}, headers=admin).json()
    events.key_hashes.clear()

    r = client.delete(f"/users/{carol['id']}", headers=admin)
    assert r.json() == {"ok": True, "deleted_keys": 2}
    assert run(stores.keys.list(user_id=carol["id"])) == []
    assert [k.id for k in run(stores.keys.list())] == [admin_key["id"]]
    assert sorted(events.key_hashes) == sorted(hashes)
    assert_error(client.get("/me", headers=carol_h), 401, "unauthorized")


def test_disabling_a_user_tells_the_key_cache(
    client: TestClient, admin: dict[str, str], stores: MemoryStores, events: Events
) -> None:
    carol = create(client, admin).json()
    run(stores.keys.create(ApiKey(user_id=carol["id"], name="k", key_hash="h1", key_prefix="ap-x")))
    client.patch(f"/users/{carol['id']}", json={"enabled": False}, headers=admin)
    assert events.key_hashes == ["h1"]


def test_normal_user_gets_403_on_users_and_accounts(
    client: TestClient, make_logged_in_user: Callable, admin: dict[str, str]
) -> None:
    bob, h = make_logged_in_user("bob")
    for method, path in [
        ("GET", "/users"),
        ("POST", "/users"),
        ("GET", f"/users/{bob.id}"),
        ("PATCH", f"/users/{bob.id}"),
        ("DELETE", f"/users/{bob.id}"),
        ("GET", "/accounts"),
        ("POST", "/accounts"),
        ("GET", "/accounts/1"),
        ("PATCH", "/accounts/1"),
        ("DELETE", "/accounts/1"),
    ]:
        r = client.request(method, path, json={}, headers=h)
        assert_error(r, 403, "forbidden")
