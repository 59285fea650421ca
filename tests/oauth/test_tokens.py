"""The TokenManager: no refresh while fresh, one refresh (not twenty) when expiring, clear errors."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from aiproxy.oauth.providers import CLAUDE_CLIENT_ID, oauth_providers
from aiproxy.oauth.tokens import ReauthorizationRequired, TokenError, TokenManager
from aiproxy.stores.entities import Account
from tests.fakes.oauth_provider import LIFETIME, FakeTokenEndpoint, oauth_settings

pytestmark = pytest.mark.anyio

NOW = 1_800_000_000.0
ACCOUNT = Account(name="max-1", platform="claude", type="claude-official", id=7)


class Saved:
    def __init__(self) -> None:
        self.calls: list[tuple[int, dict[str, Any]]] = []

    async def __call__(self, account_id: int, credentials: dict[str, Any]) -> None:
        await asyncio.sleep(0)  # a real save awaits the store
        self.calls.append((account_id, credentials))


@pytest.fixture
def fake() -> FakeTokenEndpoint:
    return FakeTokenEndpoint()


@pytest.fixture
def saved() -> Saved:
    return Saved()


@pytest.fixture
async def manager(fake: FakeTokenEndpoint, saved: Saved):
    async with httpx.AsyncClient(transport=fake.transport()) as client:
        yield TokenManager(oauth_providers(oauth_settings()), client, saved, skew=300, clock=lambda: NOW)


def creds(expires_in: float, access: str = "at-old", refresh: str = "rt-old") -> dict[str, Any]:
    return {"access_token": access, "refresh_token": refresh, "expires_at": int(NOW + expires_in),
            "organization": {"uuid": "org-1"}}


async def test_fresh_token_used_without_refresh(manager: TokenManager, fake: FakeTokenEndpoint, saved: Saved):
    assert await manager.access_token(ACCOUNT, creds(3600)) == "at-old"
    assert await manager.access_token(ACCOUNT, creds(301)) == "at-old"
    assert fake.requests == [] and saved.calls == []


async def test_token_without_expiry_is_used_as_is(manager: TokenManager, fake: FakeTokenEndpoint):
    assert await manager.access_token(ACCOUNT, {"access_token": "pasted"}) == "pasted"
    assert fake.requests == []


async def test_refresh_within_skew_saves_new_credentials(manager: TokenManager, fake: FakeTokenEndpoint, saved: Saved):
    assert await manager.access_token(ACCOUNT, creds(299)) == "at-refresh1"
    [sent] = fake.requests
    assert sent == {"grant_type": "refresh_token", "refresh_token": "rt-old", "client_id": CLAUDE_CLIENT_ID}
    [(account_id, new)] = saved.calls
    assert account_id == 7
    assert new["access_token"] == "at-refresh1" and new["refresh_token"] == "rt-refresh1"
    assert new["expires_at"] == int(NOW + LIFETIME)
    assert new["organization"] == {"uuid": "org-1", "name": "Acme"}
    # A caller still holding the old credentials (pool not yet reloaded) gets the new token, no second refresh.
    assert await manager.access_token(ACCOUNT, creds(299)) == "at-refresh1"
    # And the reloaded credentials are used as they are.
    assert await manager.access_token(ACCOUNT, new) == "at-refresh1"
    assert len(fake.requests) == 1


async def test_expired_token_refreshed(manager: TokenManager, fake: FakeTokenEndpoint):
    assert await manager.access_token(ACCOUNT, creds(-100)) == "at-refresh1"


async def test_twenty_concurrent_callers_cause_one_refresh(manager: TokenManager, fake: FakeTokenEndpoint,
                                                          saved: Saved):
    fake.delay = 0.05  # the refresh is in flight while the others arrive
    stale = creds(10)
    tokens = await asyncio.gather(*[manager.access_token(ACCOUNT, dict(stale)) for _ in range(20)])
    assert tokens == ["at-refresh1"] * 20
    assert len(fake.refresh_requests) == 1
    assert len(saved.calls) == 1


async def test_accounts_refresh_independently(manager: TokenManager, fake: FakeTokenEndpoint):
    other = Account(name="max-2", platform="claude", type="claude-official", id=8)
    fake.delay = 0.02
    await asyncio.gather(manager.access_token(ACCOUNT, creds(10)), manager.access_token(other, creds(10, "x", "rt-x")))
    assert len(fake.refresh_requests) == 2


async def test_newer_credentials_from_the_pool_win_over_an_older_refresh(manager: TokenManager,
                                                                        fake: FakeTokenEndpoint):
    await manager.access_token(ACCOUNT, creds(10))
    # An admin re-authorized the account: its new tokens are used, not our cached refresh.
    assert await manager.access_token(ACCOUNT, creds(3600, "at-reauth", "rt-reauth")) == "at-reauth"
    assert len(fake.requests) == 1


async def test_refused_refresh_token_asks_for_reauthorization(manager: TokenManager, fake: FakeTokenEndpoint,
                                                              saved: Saved):
    fake.refused_refresh_tokens.add("rt-old")
    with pytest.raises(ReauthorizationRequired) as caught:
        await manager.access_token(ACCOUNT, creds(10))
    err = caught.value
    assert err.status == 401
    assert "'max-1' (id 7) needs re-authorization" in err.message and "invalid_grant" in err.message
    assert saved.calls == []


async def test_no_refresh_token(manager: TokenManager):
    # Inside the skew but not expired: still served.
    assert await manager.access_token(ACCOUNT, {"access_token": "a", "expires_at": NOW + 10}) == "a"
    with pytest.raises(ReauthorizationRequired, match="no refresh token"):
        await manager.access_token(ACCOUNT, {"access_token": "a", "expires_at": NOW - 10})


async def test_provider_outage(manager: TokenManager, fake: FakeTokenEndpoint):
    fake.fail_with = 503
    # Not yet expired: the current token serves while the provider is down.
    assert await manager.access_token(ACCOUNT, creds(10)) == "at-old"
    with pytest.raises(TokenError) as caught:
        await manager.access_token(ACCOUNT, creds(-10))
    assert caught.value.status == 502 and not isinstance(caught.value, ReauthorizationRequired)
    assert "refreshing the access token failed" in caught.value.message


async def test_failed_save_still_serves_the_new_token(fake: FakeTokenEndpoint):
    async def broken(account_id: int, credentials: dict[str, Any]) -> None:
        raise RuntimeError("database down")

    async with httpx.AsyncClient(transport=fake.transport()) as client:
        manager = TokenManager(oauth_providers(oauth_settings()), client, broken, clock=lambda: NOW)
        assert await manager.access_token(ACCOUNT, creds(10)) == "at-refresh1"
        assert await manager.access_token(ACCOUNT, creds(10)) == "at-refresh1"
    assert len(fake.requests) == 1


async def test_rejected_token_is_refreshed_once_for_concurrent_callers(manager: TokenManager,
                                                                      fake: FakeTokenEndpoint):
    fake.delay = 0.02
    looks_fresh = creds(3600)
    tokens = await asyncio.gather(*[manager.access_token(ACCOUNT, dict(looks_fresh), rejected="at-old")
                                    for _ in range(5)])
    assert tokens == ["at-refresh1"] * 5
    assert len(fake.refresh_requests) == 1


async def test_rejected_token_not_served_during_an_outage(manager: TokenManager, fake: FakeTokenEndpoint):
    fake.fail_with = 503
    with pytest.raises(TokenError, match="refreshing the access token failed"):
        await manager.access_token(ACCOUNT, creds(3600), rejected="at-old")


async def test_refused_refresh_token_is_not_sent_again(manager: TokenManager, fake: FakeTokenEndpoint):
    fake.refused_refresh_tokens.add("rt-old")
    for _ in range(3):
        with pytest.raises(ReauthorizationRequired, match="invalid_grant"):
            await manager.access_token(ACCOUNT, creds(-10))
    assert len(fake.refresh_requests) == 1
    # A re-authorized account (a new refresh token) is refreshed normally.
    assert await manager.access_token(ACCOUNT, creds(-10, "at-new", "rt-new")) == "at-refresh1"


async def test_after_a_failed_refresh_the_next_attempt_waits(fake: FakeTokenEndpoint, saved: Saved):
    now = [NOW]
    async with httpx.AsyncClient(transport=fake.transport()) as client:
        manager = TokenManager(oauth_providers(oauth_settings()), client, saved, clock=lambda: now[0])
        fake.fail_with = 503
        assert await manager.access_token(ACCOUNT, creds(100)) == "at-old"
        assert await manager.access_token(ACCOUNT, creds(100)) == "at-old"
        assert len(fake.requests) == 1  # the second request did not queue behind another failing refresh
        fake.fail_with = None
        now[0] += 31
        assert await manager.access_token(ACCOUNT, creds(100)) == "at-refresh1"
        assert len(fake.requests) == 2


async def test_refresh_survives_the_caller_being_cancelled(manager: TokenManager, fake: FakeTokenEndpoint,
                                                           saved: Saved):
    # A client disconnect cancels the request; the refresh (whose refresh token
    # the provider may already have used up) must still finish and be saved.
    fake.delay = 0.05
    caller = asyncio.ensure_future(manager.access_token(ACCOUNT, creds(10)))
    await asyncio.sleep(0.01)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    await asyncio.sleep(0.1)
    assert [c["access_token"] for _, c in saved.calls] == ["at-refresh1"]
    assert await manager.access_token(ACCOUNT, creds(10)) == "at-refresh1"
    assert len(fake.refresh_requests) == 1
