"""The admin API while its database hangs or is unreachable: 503 database_unavailable
in the API's own JSON shape, within the timeout, on every endpoint, login too."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any, AsyncIterator

import httpx
import pytest

from aiproxy.admin.api import create_admin_app
from aiproxy.admin.context import AdminContext
from aiproxy.stores.entities import Account, User
from aiproxy.stores.memory import MemoryStores

pytestmark = pytest.mark.anyio

TIMEOUT = 0.2


class Outage:
    """Switches a store's methods between working, hanging and failing."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        self.release = asyncio.Event()
        self.calls = 0

    def hang(self, store: Any, name: str) -> None:
        async def hanging(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            await self.release.wait()
            raise ConnectionResetError("the database came back and dropped the connection")

        self.monkeypatch.setattr(store, name, hanging)

    def fail(self, store: Any, name: str, exc: BaseException) -> None:
        async def failing(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            raise exc

        self.monkeypatch.setattr(store, name, failing)


@pytest.fixture
async def outage(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Outage]:
    o = Outage(monkeypatch)
    yield o
    o.release.set()  # let abandoned calls end before the loop does
    await asyncio.sleep(0.01)


@pytest.fixture
async def api(ctx: AdminContext) -> AsyncIterator[httpx.AsyncClient]:
    app = create_admin_app(ctx, db_timeout=TIMEOUT)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://admin") as c:
        yield c


@pytest.fixture
async def admin_headers(ctx: AdminContext, stores: MemoryStores) -> dict[str, str]:
    user = await stores.users.create(User(username="root", password_hash="x", role="admin"))
    assert user.id is not None
    return {"Authorization": f"Bearer {ctx.tokens.issue(user.id, user.role)}"}


def assert_unavailable(r: httpx.Response, mentions: str) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers["retry-after"] == "5"
    error = r.json()["error"]
    assert error["type"] == "database_unavailable"
    assert mentions in error["message"]
    assert "Traceback" not in r.text


async def test_login_answers_503_when_the_database_hangs(api: httpx.AsyncClient, stores: MemoryStores, outage: Outage):
    outage.hang(stores.users, "get_by_username")
    r = await asyncio.wait_for(api.post("/login", json={"username": "admin", "password": "x"}), 5)
    assert_unavailable(r, f"did not answer within {TIMEOUT:g} s")
    assert outage.calls == 1


async def test_every_endpoint_answers_503_when_the_database_hangs(
    api: httpx.AsyncClient, stores: MemoryStores, admin_headers: dict[str, str], outage: Outage
):
    outage.hang(stores.users, "get")  # who is calling: read on every authenticated call
    for method, path in [("GET", "/me"), ("GET", "/users"), ("GET", "/keys"), ("GET", "/accounts"), ("GET", "/usage")]:
        r = await asyncio.wait_for(api.request(method, path, headers=admin_headers), 5)
        assert_unavailable(r, "did not answer")


async def test_a_connection_failure_answers_503_at_once(
    api: httpx.AsyncClient, stores: MemoryStores, admin_headers: dict[str, str], outage: Outage
):
    outage.fail(stores.accounts, "list", ConnectionRefusedError(111, "Connection refused"))
    assert_unavailable(await api.get("/accounts", headers=admin_headers), "ConnectionRefusedError")
    outage.fail(stores.usage, "totals", sqlite3.OperationalError("database is locked"))
    assert_unavailable(await api.get("/usage", headers=admin_headers), "OperationalError")


async def test_the_pool_reload_after_an_edit_is_bounded_too(
    ctx: AdminContext, api: httpx.AsyncClient, stores: MemoryStores, admin_headers: dict[str, str], outage: Outage
):
    async def reload_hangs() -> None:
        await outage.release.wait()

    ctx.accounts_changed = reload_hangs
    account = await stores.accounts.create(Account(name="a", platform="claude", type="claude-console", credentials="x"))
    r = await asyncio.wait_for(api.delete(f"/accounts/{account.id}", headers=admin_headers), 5)
    assert_unavailable(r, "did not answer")


async def test_refusals_of_a_working_database_are_not_503(
    api: httpx.AsyncClient, stores: MemoryStores, admin_headers: dict[str, str], outage: Outage
):
    # A duplicate is the database answering: still the endpoint's own 409.
    await stores.users.create(User(username="taken", password_hash="x"))
    r = await api.post("/users", json={"username": "taken", "password": "long-enough-1"}, headers=admin_headers)
    assert r.status_code == 409, r.text
    # And a bug is still a 500 (logged with its trace), not disguised as an outage.
    outage.fail(stores.keys, "list", RuntimeError("a bug"))
    r = await api.get("/keys", headers=admin_headers)
    assert r.status_code == 500 and r.json()["error"]["type"] == "internal_error"


async def test_the_database_back_answers_normally(
    api: httpx.AsyncClient, stores: MemoryStores, admin_headers: dict[str, str], monkeypatch: pytest.MonkeyPatch
):
    real = stores.users.get
    down = True

    async def flaky(user_id: int) -> User | None:
        if down:
            raise ConnectionResetError("gone")
        return await real(user_id)

    monkeypatch.setattr(stores.users, "get", flaky)
    assert (await api.get("/me", headers=admin_headers)).status_code == 503
    down = False
    assert (await api.get("/me", headers=admin_headers)).status_code == 200
