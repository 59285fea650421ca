"""Admin API: login, password change, the must-change gate, tokens and errors.

Users, accounts, keys and usage have their own test modules beside this one.
"""

from __future__ import annotations

import logging

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from aiproxy.admin.api import create_admin_app
from aiproxy.admin.context import AdminContext
from aiproxy.security.passwords import MIN_PASSWORD_LENGTH, verify_password
from aiproxy.security.tokens import TokenIssuer
from aiproxy.stores.memory import MemoryStores

from .conftest import (
    ADMIN_INITIAL_PASSWORD,
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    JWT_SECRET,
    USER_PASSWORD,
    bearer,
    login,
    make_default_admin,
    make_user,
    run,
)

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")


def assert_error(r, status: int, error_type: str | None = None, mentions: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    error = r.json()["error"]
    assert set(error) == {"type", "message"}
    if error_type is not None:
        assert error["type"] == error_type
    if mentions is not None:
        assert mentions in error["message"]
    return error


# --- login -------------------------------------------------------------------


def test_login_returns_token_and_user(client: TestClient, stores: MemoryStores) -> None:
    admin = make_default_admin(stores)
    r = client.post("/login", json={"username": ADMIN_USERNAME, "password": ADMIN_INITIAL_PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert body["must_change_password"] is True
    assert body["user"] == {"id": admin.id, "username": "admin", "role": "admin"}
    claims = TokenIssuer(JWT_SECRET).verify(body["token"])
    assert claims.user_id == admin.id


@pytest.mark.parametrize(
    "username,password",
    [("admin", "wrong-password"), ("nobody", ADMIN_INITIAL_PASSWORD), ("", "")],
)
def test_login_bad_credentials_401(client: TestClient, stores: MemoryStores, username: str, password: str) -> None:
    make_default_admin(stores)
    r = client.post("/login", json={"username": username, "password": password})
    assert_error(r, 401, "unauthorized")
    assert "token" not in r.text


def test_login_disabled_user_401(client: TestClient, stores: MemoryStores) -> None:
    make_user(stores, "off", USER_PASSWORD, enabled=False)
    assert_error(client.post("/login", json={"username": "off", "password": USER_PASSWORD}), 401)


def test_login_missing_field_400(client: TestClient) -> None:
    assert_error(client.post("/login", json={"username": "admin"}), 400, "validation_error", "password")
    assert_error(client.post("/login", json={"username": 1, "password": "x"}), 400, mentions="username")


# --- the must-change-password gate and password rules --------------------------


def test_must_change_gate_then_password_change_opens_it(client: TestClient, stores: MemoryStores) -> None:
    make_default_admin(stores)
    h = bearer(login(client, ADMIN_USERNAME, ADMIN_INITIAL_PASSWORD))

    for path in ("/users", "/accounts", "/keys", "/usage", "/usage/records"):
        error = assert_error(client.get(path, headers=h), 403, "password_change_required")
        assert "POST /admin/api/password" in error["message"]
    # /me stays open, and says why the rest is closed.
    me = client.get("/me", headers=h)
    assert me.status_code == 200 and me.json()["must_change_password"] is True

    r = client.post(
        "/password", json={"old_password": ADMIN_INITIAL_PASSWORD, "new_password": ADMIN_PASSWORD}, headers=h
    )
    assert r.status_code == 200 and r.json()["ok"] is True
    # The change ended the session it was made in; the token it answered
    # carries on, and the flag is read from the store on each call.
    assert_error(client.get("/me", headers=h), 401, "unauthorized")
    h = bearer(r.json()["token"])
    assert client.get("/users", headers=h).status_code == 200
    assert client.get("/me", headers=h).json()["must_change_password"] is False
    stored = run(stores.users.get_by_username(ADMIN_USERNAME))
    assert stored is not None and verify_password(stored.password_hash, ADMIN_PASSWORD)
    assert login(client, ADMIN_USERNAME, ADMIN_PASSWORD)
    assert_error(client.post("/login", json={"username": "admin", "password": ADMIN_INITIAL_PASSWORD}), 401)


def test_password_rules(client: TestClient, stores: MemoryStores) -> None:
    make_default_admin(stores)
    h = bearer(login(client, ADMIN_USERNAME, ADMIN_INITIAL_PASSWORD))

    def change(old: str, new: str):
        return client.post("/password", json={"old_password": old, "new_password": new}, headers=h)

    assert_error(change("wrong-old-password", ADMIN_PASSWORD), 400, "validation_error", "old_password")
    short = "x" * (MIN_PASSWORD_LENGTH - 1)
    assert_error(change(ADMIN_INITIAL_PASSWORD, short), 400, "validation_error", "new_password")
    assert_error(change(ADMIN_INITIAL_PASSWORD, ADMIN_INITIAL_PASSWORD), 400, "validation_error", "new_password")
    assert_error(client.post("/password", json={"old_password": ADMIN_INITIAL_PASSWORD}, headers=h), 400)
    # Nothing changed: the gate is still closed.
    assert run(stores.users.get_by_username(ADMIN_USERNAME)).must_change_password is True  # type: ignore[union-attr]
    assert change(ADMIN_INITIAL_PASSWORD, "x" * MIN_PASSWORD_LENGTH).status_code == 200


def test_password_change_needs_a_token(client: TestClient) -> None:
    r = client.post("/password", json={"old_password": "a", "new_password": "b" * 10})
    assert_error(r, 401, "unauthorized")


def test_me(client: TestClient, admin: dict[str, str]) -> None:
    me = client.get("/me", headers=admin).json()
    assert me["username"] == "admin" and me["role"] == "admin" and me["enabled"] is True
    assert "password_hash" not in me and me["created_at"].endswith("Z")


# --- tokens --------------------------------------------------------------------


def test_missing_garbage_expired_and_foreign_tokens_401(client: TestClient, stores: MemoryStores) -> None:
    admin = make_default_admin(stores)
    assert admin.id is not None
    expired = TokenIssuer(JWT_SECRET, ttl_seconds=-60).issue(admin.id, "admin")
    foreign = TokenIssuer("another-secret").issue(admin.id, "admin")
    for headers in (
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic YWRtaW46YWRtaW4xMjM="},
        bearer("garbage"),
        bearer(expired),
        bearer(foreign),
    ):
        r = client.get("/me", headers=headers)
        assert_error(r, 401, "unauthorized")
        assert r.headers["www-authenticate"] == "Bearer"


def test_token_of_unknown_user_401(client: TestClient) -> None:
    assert_error(client.get("/me", headers=bearer(TokenIssuer(JWT_SECRET).issue(999, "admin"))), 401)


def test_role_comes_from_the_store_not_the_token(client: TestClient, stores: MemoryStores) -> None:
    user = make_user(stores, "bob", USER_PASSWORD)
    assert user.id is not None
    forged_role = TokenIssuer(JWT_SECRET).issue(user.id, "admin")
    assert_error(client.get("/users", headers=bearer(forged_role)), 403, "forbidden")


def test_disabled_after_login_401(client: TestClient, stores: MemoryStores) -> None:
    user = make_user(stores, "bob", USER_PASSWORD)
    h = bearer(login(client, "bob", USER_PASSWORD))
    assert client.get("/me", headers=h).status_code == 200
    user.enabled = False
    run(stores.users.update(user))
    assert_error(client.get("/me", headers=h), 401)


# --- errors --------------------------------------------------------------------


def test_unknown_route_404_json(client: TestClient, admin: dict[str, str]) -> None:
    assert_error(client.get("/nope", headers=admin), 404, "not_found", "/nope")
    assert_error(client.get("/users/abc", headers=admin), 404, "not_found")


def test_wrong_method_405_json(client: TestClient) -> None:
    r = client.get("/login")
    assert_error(r, 405, "method_not_allowed")
    assert r.headers["allow"] == "POST"


@pytest.mark.parametrize("body", [b"{not json", b"", b"[1, 2]", b'"text"', b"\xff\xfe"])
def test_invalid_json_body_400(client: TestClient, admin: dict[str, str], body: bytes) -> None:
    for path in ("/login", "/users", "/accounts", "/keys"):
        r = client.post(path, content=body, headers={**admin, "content-type": "application/json"})
        assert_error(r, 400, "invalid_json")


def test_oversized_body_413_json(client: TestClient) -> None:
    r = client.post("/login", content=b'{"username": "' + b"a" * (2 * 1024 * 1024) + b'"}')
    assert_error(r, 413, "payload_too_large")


def test_unexpected_error_500_json_and_logged(
    ctx: AdminContext, admin_token: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def boom() -> list:
        raise RuntimeError("database on fire")

    monkeypatch.setattr(ctx.stores.accounts, "list", boom)
    with (
        TestClient(create_admin_app(ctx), raise_server_exceptions=False) as c,
        caplog.at_level(logging.ERROR, logger="aiproxy.admin"),
    ):
        r = c.get("/accounts", headers=bearer(admin_token))
    assert_error(r, 500, "internal_error")
    assert "database on fire" not in r.text and "Traceback" not in r.text
    assert any(rec.exc_info and "database on fire" in str(rec.exc_info[1]) for rec in caplog.records)


def test_mounted_at_admin_api(ctx: AdminContext, stores: MemoryStores) -> None:
    """As the app factory mounts it: same behaviour, full paths in messages."""
    make_default_admin(stores)
    outer = Starlette(routes=[Mount("/admin/api", app=create_admin_app(ctx))])
    with TestClient(outer) as c:
        r = c.post("/admin/api/login", json={"username": ADMIN_USERNAME, "password": ADMIN_INITIAL_PASSWORD})
        assert r.status_code == 200
        h = bearer(r.json()["token"])
        assert c.get("/admin/api/me", headers=h).status_code == 200
        assert_error(c.get("/admin/api/users", headers=h), 403, "password_change_required")
        assert_error(c.get("/admin/api/nope", headers=h), 404, "not_found", "/admin/api/nope")
