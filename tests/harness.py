"""A gateway built for tests: in-memory stores, a fake upstream, helpers to seed and inspect it."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, AsyncIterator

import httpx
from starlette.applications import Starlette

from aiproxy import ACCOUNT_TYPES, AccountTypes, Gateway, MemoryStores, Settings, SharedState, create_app
from aiproxy.security.cipher import CredentialCipher
from aiproxy.settings import UpstreamURLs
from aiproxy.stores.entities import Account, ApiKey, UsageRecord, User
from aiproxy.stores.protocols import Stores, UsageFilter
from aiproxy.testing import Seed, running

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

    @property
    def gateway(self) -> Gateway:
        return Gateway.of(self.app)

    @property
    def seed(self) -> Seed:
        return Seed(self.stores, encryption_key=ENCRYPTION_KEY)

    async def add_account(self, credentials: dict[str, Any] | None = None, **fields: Any) -> Account:
        fields.setdefault("name", "console-1")
        fields.setdefault("platform", "claude")
        fields.setdefault("type", "claude-console")
        account = await self.seed.account(credentials or {"api_key": UPSTREAM_KEY}, **fields)
        await self.gateway.pool.reload()
        return account

    async def add_key(self, **fields: Any) -> tuple[str, ApiKey]:
        user = fields.pop("user_id", self.user.id)
        return await self.seed.key(user, **fields)  # an IssuedKey: (plaintext, stored row)

    async def records(self) -> list[UsageRecord]:
        await self.gateway.usage_writer.flush()
        found, _ = await self.stores.usage.query(UsageFilter(), limit=1000)
        return list(reversed(found))  # oldest first


async def seed_user(stores: Stores) -> User:
    return await Seed(stores, encryption_key=ENCRYPTION_KEY).user("alice")


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
    async with running(app, base_url="http://gateway.test") as http:
        user = await seed_user(stores)
        h = Harness(app=app, stores=stores, http=http, key="", user=user)
        h.key, _ = await h.add_key()
        if seed_account:
            await h.add_account()
        yield h
