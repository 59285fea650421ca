"""A gateway built for tests: in-memory stores, a fake upstream, helpers to seed and inspect it."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, AsyncIterator

import httpx
from starlette.applications import Starlette

from aiproxy import MemoryStores, Settings, create_app
from aiproxy.accounts import ACCOUNT_TYPES, AccountTypes
from aiproxy.security.api_keys import generate_api_key, hash_api_key, shown_prefix
from aiproxy.security.cipher import CredentialCipher
from aiproxy.settings import UpstreamURLs
from aiproxy.state import SharedState
from aiproxy.stores.entities import Account, ApiKey, UsageRecord, User
from aiproxy.stores.protocols import Stores, UsageFilter

ENCRYPTION_KEY = CredentialCipher.generate_key()
UPSTREAM = "http://upstream.test"
UPSTREAM_KEY = "sk-ant-upstream-secret"


def gateway_settings(**overrides: Any) -> Settings:
    settings = Settings(
        jwt_secret="test-jwt-secret",
        encryption_key=ENCRYPTION_KEY,
        upstream=UpstreamURLs(anthropic=UPSTREAM),
        usage_flush_seconds=0.05,
    )
    for name, value in overrides.items():
        setattr(settings, name, value)
    return settings


@dataclass
class Harness:
    app: Starlette
    stores: Stores
    http: httpx.AsyncClient  # talks to the gateway in process
    key: str  # a valid gateway key for user `alice`
    user: User

    async def add_account(self, credentials: dict[str, Any] | None = None, **fields: Any) -> Account:
        cipher = CredentialCipher(ENCRYPTION_KEY)
        fields.setdefault("name", "console-1")
        fields.setdefault("platform", "claude")
        fields.setdefault("type", "claude-console")
        account = await self.stores.accounts.create(
            Account(credentials=cipher.encrypt(credentials or {"api_key": UPSTREAM_KEY}), **fields)
        )
        await self.app.state.gateway.pool.reload()
        return account

    async def add_key(self, **fields: Any) -> tuple[str, ApiKey]:
        plain = generate_api_key()
        fields.setdefault("name", "test key")
        fields.setdefault("user_id", self.user.id)
        key = await self.stores.keys.create(ApiKey(key_hash=hash_api_key(plain), key_prefix=shown_prefix(plain), **fields))
        return plain, key

    async def records(self) -> list[UsageRecord]:
        await self.app.state.gateway.usage_writer.flush()
        found, _ = await self.stores.usage.query(UsageFilter(), limit=1000)
        return list(reversed(found))  # oldest first


async def seed_user(stores: Stores) -> User:
    return await stores.users.create(User(username="alice", password_hash="x", role="user"))


@contextlib.asynccontextmanager
async def start_harness(
    transport: httpx.AsyncBaseTransport,
    stores: Stores | None = None,
    *,
    state: SharedState | None = None,
    seed_account: bool = True,
    account_types: AccountTypes = ACCOUNT_TYPES,
    **settings: Any,
) -> AsyncIterator[Harness]:
    stores = stores or MemoryStores()
    app = create_app(stores, gateway_settings(**settings), transport=transport, state=state,
                     account_types=account_types)
    async with app.router.lifespan_context(app):
        user = await seed_user(stores)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test") as http:
            h = Harness(app=app, stores=stores, http=http, key="", user=user)
            h.key, _ = await h.add_key()
            if seed_account:
                await h.add_account()
            yield h
