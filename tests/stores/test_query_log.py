"""No secret reaches the logs at any level: hashes, keys and credentials stay out of DEBUG too.

`databases` logs each statement with its values at DEBUG, and aiosqlite each
call with its arguments; aiproxy.stores.query_log replaces those values. The
test drives the admin API of a gateway on each SQL backend with every logger
at DEBUG, and looks for each secret in every record.
"""

from __future__ import annotations

import logging

import httpx
import pytest
from argon2 import PasswordHasher

import aiproxy.security.passwords as passwords
from aiproxy import Settings, create_app
from aiproxy.security.api_keys import hash_api_key
from aiproxy.security.cipher import CredentialCipher
from aiproxy.stores.query_log import HIDDEN
from aiproxy.stores.sql import SQLStores

ADMIN_PASSWORD = "first-admin-password"
NEW_PASSWORD = "second-admin-password"
UPSTREAM_SECRET = "sk-ant-api03-upstream-secret-value"

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


async def test_login_key_and_account_creation_log_no_secret(sql_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger and so every logger under it
    for name in ("databases", "aiosqlite", "asyncmy", "httpx", "httpcore", "aiproxy", "sqlalchemy"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    stores = SQLStores(sql_url)
    settings = Settings(
        jwt_secret="a-test-jwt-secret-long-enough-to-sign",
        encryption_key=CredentialCipher.generate_key(),
        admin_password=ADMIN_PASSWORD,
    )
    app = create_app(stores, settings, transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw.test") as http:
            r = await http.post("/admin/api/login", json={"username": "admin", "password": ADMIN_PASSWORD})
            assert r.status_code == 200, r.text
            token = r.json()["token"]
            auth = {"authorization": f"Bearer {token}"}
            r = await http.post(
                "/admin/api/password", json={"old_password": ADMIN_PASSWORD, "new_password": NEW_PASSWORD}, headers=auth
            )
            assert r.status_code == 200, r.text
            r = await http.post("/admin/api/login", json={"username": "admin", "password": NEW_PASSWORD})
            assert r.status_code == 200, r.text
            token = r.json()["token"]
            auth = {"authorization": f"Bearer {token}"}
            r = await http.post("/admin/api/keys", json={"name": "laptop"}, headers=auth)
            assert r.status_code == 201, r.text
            plaintext_key = r.json()["key"]
            r = await http.post(
                "/admin/api/accounts",
                json={
                    "name": "console-1",
                    "platform": "claude",
                    "type": "claude-console",
                    "credentials": {"api_key": UPSTREAM_SECRET},
                },
                headers=auth,
            )
            assert r.status_code == 201, r.text
            r = await http.post(
                "/admin/api/users", json={"username": "bob", "password": "bobs-password-1", "role": "user"}, headers=auth
            )
            assert r.status_code == 201, r.text
            # A proxied request with the new key: the key lookup goes to the store.
            await http.post("/claude/v1/messages", json={"model": "m", "messages": []}, headers={"x-api-key": plaintext_key})
        admin = await stores.users.get_by_username("admin")
        bob = await stores.users.get_by_username("bob")
        accounts = await stores.accounts.list()
    assert admin is not None and bob is not None
    secrets = {
        "admin password": NEW_PASSWORD,
        "first admin password": ADMIN_PASSWORD,
        "bob's password": "bobs-password-1",
        "admin password hash": admin.password_hash,
        "bob's password hash": bob.password_hash,
        "the key": plaintext_key,
        "the key's hash": hash_api_key(plaintext_key),
        "the upstream credential": UPSTREAM_SECRET,
        "the encrypted credential": accounts[0].credentials,
        "the JWT": token,
        "the JWT secret": settings.jwt_secret,
        "the encryption key": settings.encryption_key,
    }
    # Argon2 hashes share their parameter prefix ("$argon2id$v=19$m=8,t=1,p=1$"): look for the salt and digest.
    secrets = {what: value.rsplit("$", 2)[-2] if value.startswith("$argon2") else value for what, value in secrets.items()}
    text = "\n".join(f"{r.name} {r.levelname} {r.getMessage()}" for r in caplog.records)
    assert "Query:" in text or "executing" in text or "asyncmy" in sql_url, "the statement logs were not captured"
    leaked = [what for what, value in secrets.items() if value and value in text]
    assert leaked == [], f"secrets in the logs: {leaked}"
    if "sqlite" in sql_url:
        assert HIDDEN in text
