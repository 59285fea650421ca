"""One refresh per account across processes: two TokenManagers (as two workers would
have) sharing one store refresh an expiring account once, and both serve the new token."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, AsyncIterator

import httpx
import pytest

from aiproxy.oauth.providers import oauth_providers
from aiproxy.oauth.shared_lock import StoreRefreshLock
from aiproxy.oauth.tokens import TokenManager
from aiproxy.stores.entities import Account
from aiproxy.stores.memory import MemoryStores
from aiproxy.stores.protocols import Stores
from aiproxy.stores.sql import SQLStores
from tests.dbs import database_params, fresh_database_url
from tests.fakes.oauth_provider import FakeTokenEndpoint, oauth_settings

pytestmark = pytest.mark.anyio

NOW = 1_800_000_000.0


@pytest.fixture(params=[pytest.param("memory", id="memory"), *database_params()])
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stores]:
    if request.param == "memory":
        yield MemoryStores()
        return
    async with fresh_database_url(request.param, tmp_path) as url:
        s = SQLStores(url)
        await s.open()
        try:
            yield s
        finally:
            await s.close()


async def test_two_processes_refresh_an_account_once(stores: Stores) -> None:
    fake = FakeTokenEndpoint()
    fake.delay = 0.1  # the refresh is in flight while the other process arrives
    # The store holds credentials as plain dicts here (the app encrypts; not this test's concern).
    stored: dict[int, dict[str, Any]] = {}

    async def save(account_id: int, credentials: dict[str, Any]) -> None:
        stored[account_id] = credentials

    async def read(account_id: int) -> dict[str, Any] | None:
        return stored.get(account_id)

    account = Account(name="max", platform="claude", type="claude-official", id=5)
    stale = {"access_token": "at-old", "refresh_token": "rt-old", "expires_at": int(NOW + 10)}
    stored[5] = dict(stale)
    async with httpx.AsyncClient(transport=fake.transport()) as client:
        workers = [
            TokenManager(oauth_providers(oauth_settings()), client, save, skew=300, clock=lambda: NOW,
                         shared=StoreRefreshLock(stores.leases, read, poll_seconds=0.02))
            for _ in range(2)
        ]
        tokens = await asyncio.gather(*[w.access_token(account, dict(stale)) for w in workers for _ in range(5)])
    assert len(fake.refresh_requests) == 1
    assert set(tokens) == {stored[5]["access_token"]} and stored[5]["access_token"] != "at-old"
