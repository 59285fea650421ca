"""Two gateways on one Redis and one SQL store: what one instance's admin changes, the other applies within 1 s.

A key disabled (or its owner) through instance A's admin API is refused by B;
an account edited on A reaches B's pool; an account rate-limited by a 429 on A
is skipped by B; an OAuth login started on A is finished on B. Runs only with
AIPROXY_TEST_REDIS_URL (CI sets it), on a SQLite file and, with
AIPROXY_TEST_MYSQL_URL, on MariaDB. The key cache TTL and the account poll
stay at their 30 s defaults, so only the notices can make it this fast.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx
import pytest
from starlette.applications import Starlette

from aiproxy import Gateway, SharedState, create_app
from aiproxy.oauth.pkce import challenge_for
from aiproxy.security.cipher import CredentialCipher
from aiproxy.security.tokens import TokenIssuer
from aiproxy.state import state_from_url
from aiproxy.stores.entities import ApiKey, User
from aiproxy.stores.sql import SQLStores
from aiproxy.testing import FakeAnthropic, Seed, running
from tests.dbs import database_params, fresh_database_url
from tests.fakes.oauth_provider import GOOD_CODE, TOKEN_HOST, FakeTokenEndpoint, HostRouter, oauth_settings
from tests.harness import ENCRYPTION_KEY, gateway_settings
from tests.state.conftest import delete_prefixed, redis_url

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(redis_url() is None,
                       reason="set AIPROXY_TEST_REDIS_URL=redis://127.0.0.1:6379/0: instances meet on Redis"),
]

BODY = {"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
WITHIN = 1.0  # seconds: the issue's bound
LIMITED_HOST = "limited.test"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Instance:
    app: Starlette
    http: httpx.AsyncClient
    state: SharedState

    @property
    def gateway(self) -> Gateway:
        return Gateway.of(self.app)

    async def ask(self, key: str) -> httpx.Response:
        return await self.http.post("/claude/v1/messages", json=BODY, headers={"x-api-key": key})


@dataclass
class Pair:
    a: Instance
    b: Instance
    seed: Seed
    prefix: str
    user: User
    key: str
    key_row: ApiKey
    admin: dict[str, str]  # an admin's bearer header, good on both instances
    anthropic: FakeAnthropic
    tokens: FakeTokenEndpoint
    limited_hits: list[str]


async def within(seconds: float, check: Callable[[], Awaitable[bool]]) -> float:
    """Poll `check` every 50 ms until it holds; the seconds it took (fails past `seconds`)."""
    start = time.monotonic()
    while not await check():
        if time.monotonic() - start > seconds:
            pytest.fail(f"not seen within {seconds:g} s")
        await anyio.sleep(0.05)
    return time.monotonic() - start


@pytest.fixture(params=database_params())
async def pair(request: pytest.FixtureRequest, tmp_path: Path, anyio_backend: str) -> AsyncIterator[Pair]:
    url = redis_url()
    assert url is not None
    prefix = f"aiproxy-test-{secrets.token_hex(6)}:"
    anthropic, tokens, limited_hits = FakeAnthropic(), FakeTokenEndpoint(), []

    def rate_limited(req: httpx.Request) -> httpx.Response:
        limited_hits.append(req.url.path)
        return httpx.Response(429, headers={"retry-after": "120"},
                              json={"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}})

    transport = HostRouter({TOKEN_HOST: tokens.transport(), LIMITED_HOST: httpx.MockTransport(rate_limited)},
                           anthropic.transport())
    # One deployment: the same settings (encryption key, JWT secret) on both.
    settings = gateway_settings(oauth=oauth_settings())
    async with fresh_database_url(request.param, tmp_path) as db_url:
        # Each instance its own stores, state and Redis client, as two hosts would have.
        states = [state_from_url(url, prefix=prefix), state_from_url(url, prefix=prefix)]
        apps = [create_app(SQLStores(db_url), settings, transport=transport, state=s) for s in states]
        try:
            async with running(apps[0]) as http_a, running(apps[1]) as http_b:
                a, b = Instance(apps[0], http_a, states[0]), Instance(apps[1], http_b, states[1])

                async def subscribed() -> bool:
                    return all(i.gateway.invalidation is not None and i.gateway.invalidation.subscribed
                               for i in (a, b))

                await within(5, subscribed)
                seed = Seed(a.gateway.stores, encryption_key=ENCRYPTION_KEY)
                user = await seed.user("alice")
                key, key_row = await seed.key(user)
                root = await seed.user("root", role="admin")
                assert root.id is not None
                admin = {"authorization": "Bearer " + TokenIssuer(settings.jwt_secret or "").issue(root.id, "admin")}
                yield Pair(a, b, seed, prefix, user, key, key_row, admin, anthropic, tokens, limited_hits)
        finally:
            await delete_prefixed(url, prefix)
            for s in states:
                await s.aclose()


async def seed_accounts(p: Pair, **fields: Any) -> None:
    await p.seed.account({"api_key": "sk-ant-upstream"}, name="console-1", **fields)
    for i in (p.a, p.b):
        await i.gateway.pool.reload()


async def test_a_key_disabled_on_one_instance_is_refused_by_the_other_within_a_second(pair: Pair) -> None:
    p = pair
    await seed_accounts(p)
    assert (await p.b.ask(p.key)).status_code == 200  # B has the key cached, for 30 s by its TTL

    r = await p.a.http.patch(f"/admin/api/keys/{p.key_row.id}", json={"enabled": False}, headers=p.admin)
    assert r.status_code == 200, r.text
    assert (await p.a.ask(p.key)).status_code == 403  # a disabled key: known, refused

    async def refused_by_b() -> bool:
        return (await p.b.ask(p.key)).status_code == 403

    assert await within(WITHIN, refused_by_b) < WITHIN

    # A deleted key is unknown on both as soon.
    other, other_row = await p.seed.key(p.user, name="second")
    assert (await p.b.ask(other)).status_code == 200
    r = await p.a.http.delete(f"/admin/api/keys/{other_row.id}", headers=p.admin)
    assert r.status_code == 200, r.text

    async def unknown_to_b() -> bool:
        return (await p.b.ask(other)).status_code == 401

    assert await within(WITHIN, unknown_to_b) < WITHIN


async def test_a_user_disabled_on_one_instance_has_their_keys_refused_by_the_other(pair: Pair) -> None:
    p = pair
    await seed_accounts(p)
    assert (await p.b.ask(p.key)).status_code == 200
    r = await p.a.http.patch(f"/admin/api/users/{p.user.id}", json={"enabled": False}, headers=p.admin)
    assert r.status_code == 200, r.text

    async def refused_by_b() -> bool:
        return (await p.b.ask(p.key)).status_code == 403  # an owner's disabled keys read as disabled

    assert await within(WITHIN, refused_by_b) < WITHIN


async def test_an_account_edited_on_one_instance_reaches_the_others_pool_within_a_second(pair: Pair) -> None:
    p = pair
    await seed_accounts(p)
    [account] = p.b.gateway.pool.accounts
    assert (await p.b.ask(p.key)).status_code == 200

    r = await p.a.http.patch(f"/admin/api/accounts/{account.id}", json={"priority": 7, "enabled": False},
                             headers=p.admin)
    assert r.status_code == 200, r.text

    async def b_has_it() -> bool:
        seen = p.b.gateway.pool.get(account.id)
        return seen is not None and seen.account.priority == 7 and not seen.account.enabled

    assert await within(WITHIN, b_has_it) < WITHIN
    assert (await p.b.ask(p.key)).status_code == 503  # its one account is off

    # One created on A is served by B as soon.
    r = await p.a.http.post("/admin/api/accounts", headers=p.admin, json={
        "name": "console-2", "platform": "claude", "type": "claude-console",
        "credentials": {"api_key": "sk-ant-other"}})
    assert r.status_code == 201, r.text

    async def served_by_b() -> bool:
        return (await p.b.ask(p.key)).status_code == 200

    assert await within(WITHIN, served_by_b) < WITHIN


async def test_an_account_rate_limited_on_one_instance_is_skipped_by_the_other(pair: Pair) -> None:
    p = pair
    # The limited account comes first by priority: only its mark keeps B away from it.
    await p.seed.account({"api_key": "sk-ant-1"}, name="limited", base_url=f"http://{LIMITED_HOST}", priority=1)
    await p.seed.account({"api_key": "sk-ant-2"}, name="spare", priority=50)
    for i in (p.a, p.b):
        await i.gateway.pool.reload()

    assert (await p.a.ask(p.key)).status_code == 200  # the 429, then the spare account
    assert len(p.limited_hits) == 1
    for _ in range(5):
        assert (await p.b.ask(p.key)).status_code == 200
    assert len(p.limited_hits) == 1  # B never tried it
    limited = next(a for a in p.b.gateway.pool.accounts if a.account.name == "limited")
    status = (await p.b.gateway.scheduler.status([limited.id]))[limited.id]
    assert status.state == "rate_limited"


async def test_an_oauth_login_started_on_one_instance_is_finished_on_the_other(pair: Pair) -> None:
    p = pair
    r = await p.a.http.post("/admin/api/oauth/claude-official/start", headers=p.admin)
    assert r.status_code == 200, r.text
    started = r.json()
    query = parse_qs(urlsplit(started["authorize_url"]).query)
    state, challenge = query["state"][0], query["code_challenge"][0]

    # What Redis holds: one sealed entry, named by no session id, readable by the deployment's key alone.
    redis = p.a.gateway.state.primary.client  # type: ignore[attr-defined]
    [name] = [k async for k in redis.scan_iter(match=f"{p.prefix}login:*")]
    assert started["session_id"] not in name.decode()
    raw = (await redis.get(name)).decode()
    assert state not in raw and "verifier" not in raw
    sealed = CredentialCipher(ENCRYPTION_KEY).decrypt(raw)
    assert challenge_for(sealed["verifier"]) == challenge

    r = await p.b.http.post("/admin/api/oauth/claude-official/finish", headers=p.admin, json={
        "session_id": started["session_id"], "code": f"{GOOD_CODE}#{state}", "name": "max-1"})
    assert r.status_code == 201, r.text
    [exchange] = p.tokens.requests
    assert exchange["code_verifier"] == sealed["verifier"]  # the verifier A made, never sent to the browser
    assert [k async for k in redis.scan_iter(match=f"{p.prefix}login:*")] == []  # used up

    account_id = r.json()["id"]

    async def a_has_it() -> bool:
        return p.a.gateway.pool.get(account_id) is not None

    assert await within(WITHIN, a_has_it) < WITHIN
