"""The admin API over in-memory stores, with recording fakes for the change hooks."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Iterator, TypeVar

import pytest
from argon2 import PasswordHasher
from starlette.testclient import TestClient

import aiproxy.security.passwords as passwords
from aiproxy.admin.api import create_admin_app
from aiproxy.admin.context import AdminContext
from aiproxy.security.cipher import CredentialCipher
from aiproxy.security.passwords import hash_password
from aiproxy.security.tokens import TokenIssuer
from aiproxy.stores.entities import User
from aiproxy.stores.memory import MemoryStores

T = TypeVar("T")

JWT_SECRET = "test-secret"
ADMIN_USERNAME = "admin"
ADMIN_INITIAL_PASSWORD = "admin123"
ADMIN_PASSWORD = "admin-password-2"
USER_PASSWORD = "user-password-1"


def run(coro: Awaitable[T]) -> T:
    # The memory stores are not bound to any event loop, so a fresh one per call is fine.
    async def wrap() -> T:
        return await coro

    return asyncio.run(wrap())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Events:
    """What the API told the rest of the gateway."""

    key_hashes: list[str] = field(default_factory=list)
    account_changes: int = 0

    def keys_changed(self, key_hash: str) -> None:
        self.key_hashes.append(key_hash)

    async def accounts_changed(self) -> None:
        self.account_changes += 1


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    # Production Argon2 parameters cost ~50 ms per hash; these tests hash and
    # verify hundreds of times and test the API, not Argon2.
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
def stores() -> MemoryStores:
    return MemoryStores()


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
def ctx(stores: MemoryStores, events: Events) -> AdminContext:
    return AdminContext(
        stores=stores,
        cipher=CredentialCipher(CredentialCipher.generate_key()),
        tokens=TokenIssuer(JWT_SECRET),
        keys_changed=events.keys_changed,
        accounts_changed=events.accounts_changed,
    )


@pytest.fixture
def client(ctx: AdminContext) -> Iterator[TestClient]:
    with TestClient(create_admin_app(ctx)) as c:
        yield c


def make_user(
    stores: MemoryStores,
    username: str,
    password: str,
    *,
    role: str = "user",
    must_change_password: bool = False,
    enabled: bool = True,
) -> User:
    """A user put straight into the store, as the app factory does for the default admin."""
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=role,
        enabled=enabled,
        must_change_password=must_change_password,
    )
    return run(stores.users.create(user))


def make_default_admin(stores: MemoryStores) -> User:
    return make_user(stores, ADMIN_USERNAME, ADMIN_INITIAL_PASSWORD, role="admin", must_change_password=True)


def login(client: TestClient, username: str, password: str) -> str:
    r = client.post("/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return r.json()["token"]


@pytest.fixture
def admin_token(client: TestClient, stores: MemoryStores) -> str:
    """The default admin, logged in, with the initial password already changed."""
    make_default_admin(stores)
    token = login(client, ADMIN_USERNAME, ADMIN_INITIAL_PASSWORD)
    r = client.post(
        "/password",
        json={"old_password": ADMIN_INITIAL_PASSWORD, "new_password": ADMIN_PASSWORD},
        headers=bearer(token),
    )
    assert r.status_code == 200, r.text
    # The change ended the session it was made in and answered a fresh token.
    return r.json()["token"]


@pytest.fixture
def admin(admin_token: str) -> dict[str, str]:
    return bearer(admin_token)


@pytest.fixture
def make_logged_in_user(client: TestClient, stores: MemoryStores) -> Callable[..., tuple[User, dict[str, str]]]:
    """Create a normal user and return it with its bearer headers."""

    def make(username: str, **kwargs: Any) -> tuple[User, dict[str, str]]:
        user = make_user(stores, username, USER_PASSWORD, **kwargs)
        return user, bearer(login(client, username, USER_PASSWORD))

    return make
