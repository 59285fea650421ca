"""Admin authentication under attack: the login throttle, bounded hashing,
and session tokens that end with a password change, reset, disable, role
change or logout."""

from __future__ import annotations

import threading
from functools import partial
from typing import Callable

import anyio
import httpx
import jwt
import pytest
from starlette.testclient import TestClient

import aiproxy.security.passwords as passwords
from aiproxy.admin.api import create_admin_app
from aiproxy.admin.context import AdminContext
from aiproxy.security.login_throttle import LoginThrottle
from aiproxy.security.passwords import PasswordHashing
from aiproxy.security.tokens import TokenIssuer
from aiproxy.stores.entities import User
from aiproxy.stores.memory import MemoryStores

from .conftest import (
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    JWT_SECRET,
    USER_PASSWORD,
    bearer,
    login,
    make_user,
)
from .test_admin_api import assert_error


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ctx(ctx: AdminContext, clock: Clock) -> AdminContext:
    # The conftest's context, with a throttle on a clock the test moves.
    ctx.login_throttle = LoginThrottle(clock=clock)
    return ctx


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password really checked (Argon2 run), by the password tried."""
    seen: list[str] = []
    real = passwords.verify_password

    def counting(password_hash: str, password: str) -> bool:
        seen.append(password)
        return real(password_hash, password)

    monkeypatch.setattr(passwords, "verify_password", counting)
    return seen


def attempt(client: TestClient, username: str, password: str) -> httpx.Response:
    return client.post("/login", json={"username": username, "password": password})


# --- the throttle ----------------------------------------------------------------


def test_sixth_wrong_password_is_429_with_growing_retry_after(
    client: TestClient, stores: MemoryStores, clock: Clock, checks: list[str]
) -> None:
    make_user(stores, "alice", USER_PASSWORD)
    for _ in range(5):
        assert_error(attempt(client, "alice", "wrong-password"), 401, "unauthorized")
    r = attempt(client, "alice", "wrong-password")
    error = assert_error(r, 429, "too_many_attempts", "try again in 1 s")
    assert r.headers["retry-after"] == "1" and "token" not in r.text
    assert error["message"]
    # Refused before any hashing, even with the right password.
    assert len(checks) == 5
    assert_error(attempt(client, "alice", USER_PASSWORD), 429)
    assert len(checks) == 5

    # Each block served and failed again doubles the next one.
    retry_afters = []
    wait = 1
    for _ in range(4):
        clock.now += wait
        assert_error(attempt(client, "alice", "wrong-password"), 401)
        r = attempt(client, "alice", "wrong-password")
        assert r.status_code == 429
        wait = int(r.headers["retry-after"])
        retry_afters.append(wait)
    assert retry_afters == [2, 4, 8, 16]
    assert len(checks) == 9


def test_unknown_usernames_are_throttled_alike(client: TestClient, checks: list[str]) -> None:
    for _ in range(5):
        assert_error(attempt(client, "nobody", "whatever-pw"), 401)
    assert_error(attempt(client, "nobody", "whatever-pw"), 429, "too_many_attempts")
    # A dummy hash was checked for each (the first also made it, which is no check).
    assert checks == ["whatever-pw"] * 5


def test_per_address_across_usernames(ctx: AdminContext, stores: MemoryStores) -> None:
    make_user(stores, "alice", USER_PASSWORD)
    app = create_admin_app(ctx)
    with TestClient(app, client=("10.0.0.1", 4000)) as sprayer, TestClient(app, client=("10.0.0.2", 4000)) as other:
        for i in range(5):
            assert_error(attempt(sprayer, f"guess-{i}", "password1"), 401)
        # A sixth username from that address is refused; alice from elsewhere logs in.
        assert_error(attempt(sprayer, "alice", USER_PASSWORD), 429)
        assert login(other, "alice", USER_PASSWORD)


def test_per_username_across_addresses(ctx: AdminContext, stores: MemoryStores) -> None:
    make_user(stores, "alice", USER_PASSWORD)
    app = create_admin_app(ctx)
    for i in range(5):
        with TestClient(app, client=(f"10.0.1.{i}", 4000)) as c:
            assert_error(attempt(c, "alice", "wrong-password"), 401)
    with TestClient(app, client=("10.0.2.1", 4000)) as c:
        assert_error(attempt(c, "alice", USER_PASSWORD), 429)


def test_success_resets_the_username_from_any_address(ctx: AdminContext, stores: MemoryStores) -> None:
    make_user(stores, "alice", USER_PASSWORD)
    app = create_admin_app(ctx)
    with TestClient(app, client=("10.0.0.1", 1)) as first:
        for _ in range(4):
            assert_error(attempt(first, "alice", "wrong-password"), 401)
        assert login(first, "alice", USER_PASSWORD)
    with TestClient(app, client=("10.0.0.2", 1)) as second:
        for _ in range(5):
            assert_error(attempt(second, "alice", "wrong-password"), 401)
        assert_error(attempt(second, "alice", "wrong-password"), 429)


def test_password_change_old_password_is_throttled(
    client: TestClient, stores: MemoryStores, checks: list[str]
) -> None:
    make_user(stores, "alice", USER_PASSWORD)
    h = bearer(login(client, "alice", USER_PASSWORD))

    def change(old: str) -> httpx.Response:
        return client.post("/password", json={"old_password": old, "new_password": "a-new-password"}, headers=h)

    for _ in range(5):
        assert_error(change("not-the-old-one"), 400, "validation_error", "old_password")
    assert_error(change(USER_PASSWORD), 429, "too_many_attempts")
    assert checks.count(USER_PASSWORD) == 1  # the login's own check, nothing since


# --- bounded hashing ---------------------------------------------------------------


class Gate:
    """A verify_password that waits for the test, counting how many run at once."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.lock = threading.Lock()
        self.running = 0
        self.peak = 0
        self.started = 0

    def __call__(self, password_hash: str, password: str) -> bool:
        with self.lock:
            self.running += 1
            self.started += 1
            self.peak = max(self.peak, self.running)
        self.open.wait(10)
        with self.lock:
            self.running -= 1
        return False


async def _flood(ctx: AdminContext, n: int, gate: Gate) -> list[httpx.Response]:
    await ctx.passwords._dummy()  # made before the flood, as it is after the first unknown username
    app = create_admin_app(ctx)
    responses: list[httpx.Response] = []

    async def one(i: int) -> None:
        transport = httpx.ASGITransport(app=app, client=(f"10.1.{i // 256}.{i % 256}", 1000))
        async with httpx.AsyncClient(transport=transport, base_url="http://admin") as c:
            responses.append(await c.post("/login", json={"username": f"u{i}", "password": "wrong-password"}))

    async with anyio.create_task_group() as tg:
        for i in range(n):
            tg.start_soon(one, i)
        # Let them all arrive and queue, then let the checks finish.
        with anyio.fail_after(10):
            while gate.started < 2:
                await anyio.sleep(0.01)
        await anyio.sleep(0.2)
        assert gate.running == 2
        gate.open.set()
    return responses


@pytest.mark.anyio
async def test_hashing_concurrency_is_bounded(ctx: AdminContext, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = Gate()
    monkeypatch.setattr(passwords, "verify_password", gate)
    ctx.passwords = PasswordHashing(concurrency=2, wait_seconds=30)
    responses = await _flood(ctx, 12, gate)
    assert [r.status_code for r in responses] == [401] * 12
    assert gate.peak == 2 and gate.started == 12


@pytest.mark.anyio
async def test_hashing_busy_beyond_the_wait_is_503(ctx: AdminContext, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = Gate()
    monkeypatch.setattr(passwords, "verify_password", gate)
    ctx.passwords = PasswordHashing(concurrency=2, wait_seconds=0.05)
    responses = await _flood(ctx, 6, gate)
    codes = sorted(r.status_code for r in responses)
    assert codes == [401, 401, 503, 503, 503, 503]
    busy = next(r for r in responses if r.status_code == 503)
    assert busy.json()["error"]["type"] == "busy" and int(busy.headers["retry-after"]) >= 1
    assert gate.peak == 2


@pytest.mark.anyio
async def test_busy_attempts_are_not_counted(ctx: AdminContext, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = Gate()
    monkeypatch.setattr(passwords, "verify_password", gate)
    ctx.passwords = PasswordHashing(concurrency=1, wait_seconds=0.05)
    app = create_admin_app(ctx)
    transport = httpx.ASGITransport(app=app, client=("10.2.0.1", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://admin") as c:
        async with anyio.create_task_group() as tg:
            tg.start_soon(partial(c.post, "/login", json={"username": "a", "password": "wrong-password"}))
            while gate.started < 1:
                await anyio.sleep(0.01)
            for _ in range(8):
                r = await c.post("/login", json={"username": "a", "password": "wrong-password"})
                assert r.status_code == 503
            gate.open.set()
        # Only the one checked attempt counts: 4 more are free.
        for _ in range(4):
            assert (await c.post("/login", json={"username": "a", "password": "wrong-password"})).status_code == 401
        assert (await c.post("/login", json={"username": "a", "password": "wrong-password"})).status_code == 429


# --- sessions end -------------------------------------------------------------------


def test_old_token_401_after_own_password_change_new_token_works(client: TestClient, stores: MemoryStores) -> None:
    make_user(stores, "alice", USER_PASSWORD)
    first = bearer(login(client, "alice", USER_PASSWORD))
    second = bearer(login(client, "alice", USER_PASSWORD))  # another browser
    r = client.post("/password", json={"old_password": USER_PASSWORD, "new_password": "alice-new-pw"}, headers=first)
    assert r.status_code == 200 and r.json()["ok"] is True
    fresh = bearer(r.json()["token"])
    for old in (first, second):
        error = assert_error(client.get("/me", headers=old), 401, "unauthorized")
        assert "log in again" in error["message"]
    assert client.get("/me", headers=fresh).json()["username"] == "alice"
    assert login(client, "alice", "alice-new-pw")


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"password": "reset-by-admin"}, id="reset"),
        pytest.param({"enabled": False}, id="disable"),
        pytest.param({"role": "admin"}, id="role"),
    ],
)
def test_old_token_401_after_admin_change(
    client: TestClient,
    admin: dict[str, str],
    make_logged_in_user: Callable[..., tuple[User, dict[str, str]]],
    change: dict[str, object],
) -> None:
    user, h = make_logged_in_user("bob")
    assert client.get("/me", headers=h).status_code == 200
    r = client.patch(f"/users/{user.id}", json=change, headers=admin)
    assert r.status_code == 200, r.text
    assert "token_version" not in r.json()
    if change.get("enabled") is False:
        # Enabled again, the session from before stays ended.
        assert client.patch(f"/users/{user.id}", json={"enabled": True}, headers=admin).status_code == 200
    assert_error(client.get("/me", headers=h), 401, "unauthorized")
    password = str(change.get("password", USER_PASSWORD))
    assert client.get("/me", headers=bearer(login(client, "bob", password))).status_code == 200
    # The admin's own session is untouched.
    assert client.get("/users", headers=admin).status_code == 200


def test_other_edits_keep_sessions(
    client: TestClient, admin: dict[str, str], make_logged_in_user: Callable[..., tuple[User, dict[str, str]]]
) -> None:
    user, h = make_logged_in_user("bob")
    assert client.patch(f"/users/{user.id}", json={"username": "robert"}, headers=admin).status_code == 200
    assert client.get("/me", headers=h).json()["username"] == "robert"


def test_logout_ends_every_session_of_the_user(
    client: TestClient, stores: MemoryStores, make_logged_in_user: Callable[..., tuple[User, dict[str, str]]]
) -> None:
    _, h = make_logged_in_user("bob")
    other = bearer(login(client, "bob", USER_PASSWORD))
    _, carol = make_logged_in_user("carol")
    r = client.post("/logout", headers=h)
    assert r.status_code == 200 and r.json() == {"ok": True}
    assert_error(client.get("/me", headers=h), 401)
    assert_error(client.get("/me", headers=other), 401)
    assert_error(client.post("/logout", headers=h), 401)
    # Only bob's: carol stays logged in, and bob can log in again.
    assert client.get("/me", headers=carol).status_code == 200
    assert client.get("/me", headers=bearer(login(client, "bob", USER_PASSWORD))).status_code == 200


def test_logout_needs_a_token_and_is_open_during_the_password_gate(client: TestClient, stores: MemoryStores) -> None:
    assert_error(client.post("/logout"), 401, "unauthorized")
    make_user(stores, "dave", USER_PASSWORD, must_change_password=True)
    h = bearer(login(client, "dave", USER_PASSWORD))
    assert client.post("/logout", headers=h).status_code == 200
    assert_error(client.get("/me", headers=h), 401)


def test_token_from_before_versions_is_401(client: TestClient, stores: MemoryStores) -> None:
    user = make_user(stores, "erin", USER_PASSWORD)
    legacy = jwt.encode({"sub": str(user.id), "role": "user", "exp": 4_000_000_000}, JWT_SECRET, algorithm="HS256")
    assert_error(client.get("/me", headers=bearer(legacy)), 401)
    assert client.get("/me", headers=bearer(TokenIssuer(JWT_SECRET).issue(user.id, "user", 0))).status_code == 200  # type: ignore[arg-type]


def test_admin_fixture_logs_in_with_the_changed_password(client: TestClient, admin: dict[str, str]) -> None:
    assert client.get("/me", headers=admin).json()["username"] == ADMIN_USERNAME
    assert login(client, ADMIN_USERNAME, ADMIN_PASSWORD)


def test_hammering_login_does_not_block_the_owners_password_change(ctx: AdminContext, stores: MemoryStores) -> None:
    make_user(stores, "alice", USER_PASSWORD)
    app = create_admin_app(ctx)
    with TestClient(app, client=("10.0.0.1", 1)) as owner, TestClient(app, client=("10.6.6.6", 1)) as attacker:
        h = bearer(login(owner, "alice", USER_PASSWORD))
        for _ in range(8):
            attempt(attacker, "alice", "guess-password")
        assert_error(attempt(owner, "alice", USER_PASSWORD), 429)  # the name is blocked for logins...
        r = owner.post("/password", json={"old_password": USER_PASSWORD, "new_password": "alice-new-pw"}, headers=h)
        assert r.status_code == 200  # ...not for its owner, logged in, changing the password


def test_x_forwarded_for_does_not_change_the_address(ctx: AdminContext) -> None:
    with TestClient(create_admin_app(ctx), client=("10.0.0.1", 1)) as c:
        for i in range(5):
            r = c.post("/login", json={"username": f"u{i}", "password": "password1"},
                       headers={"X-Forwarded-For": f"192.0.2.{i}"})
            assert r.status_code == 401
        r = c.post("/login", json={"username": "u9", "password": "password1"}, headers={"X-Forwarded-For": "192.0.2.99"})
        assert_error(r, 429)
