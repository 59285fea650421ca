"""ChatGPT/Codex logins (openai-responses): provider facts, the authorize URL, the form-encoded
code exchange, JSON refreshes that keep chatgpt_account_id in step with the id token, and one
refresh for twenty concurrent callers."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from aiproxy.oauth.exchange import claims_facts, unverified_claims
from aiproxy.oauth.flows import OAuthFlows
from aiproxy.oauth.pkce import challenge_for
from aiproxy.oauth.providers import OPENAI_CLIENT_ID, oauth_providers
from aiproxy.oauth.tokens import ReauthorizationRequired, TokenManager
from aiproxy.settings import OAuthSettings, Settings
from aiproxy.stores.entities import Account
from tests.fakes.openai_oauth import (
    AUTHORIZE_URL,
    GOOD_CODE,
    LIFETIME,
    REDIRECT_URI,
    FakeOpenAIAuth,
    id_token,
    openai_oauth_settings,
)

pytestmark = pytest.mark.anyio

NOW = 1_800_000_000.0
ACCOUNT = Account(name="codex-1", platform="openai", type="openai-responses", id=11)


@pytest.fixture
def fake() -> FakeOpenAIAuth:
    return FakeOpenAIAuth()


@pytest.fixture
async def client(fake: FakeOpenAIAuth):
    async with httpx.AsyncClient(transport=fake.transport()) as c:
        yield c


def test_default_openai_provider_facts():
    p = oauth_providers(OAuthSettings())["openai-responses"]
    assert p.authorize_url == "https://auth.openai.com/oauth/authorize"
    assert p.token_url == "https://auth.openai.com/oauth/token"
    assert p.redirect_uri == "http://localhost:1455/auth/callback"
    assert p.client_id == OPENAI_CLIENT_ID == "app_EMoamEEZ73f0CkXaXp7hrann"
    assert p.scope == "openid profile email offline_access"
    assert (p.token_encoding, p.refresh_encoding) == ("form", "json")
    assert p.refresh_params == {"scope": "openid profile email"}
    assert p.platform == "openai" and p.client_secret is None and not p.state_in_token_request


def test_openai_urls_from_the_environment():
    s = Settings.from_env({
        "AIPROXY_OPENAI_OAUTH_AUTHORIZE_URL": "https://a.test/authorize",
        "AIPROXY_OPENAI_OAUTH_TOKEN_URL": "https://a.test/token",
        "AIPROXY_OPENAI_OAUTH_REDIRECT_URI": "http://localhost:9999/cb",
        "AIPROXY_CODEX_BASE_URL": "https://codex.test/api",
    })
    assert (s.oauth.openai_authorize_url, s.oauth.openai_token_url, s.oauth.openai_redirect_uri) == (
        "https://a.test/authorize", "https://a.test/token", "http://localhost:9999/cb")
    assert s.upstream.codex == "https://codex.test/api"
    assert Settings().upstream.codex == "https://chatgpt.com/backend-api/codex"


async def test_authorize_url_and_code_exchange(fake: FakeOpenAIAuth, client: httpx.AsyncClient):
    flows = OAuthFlows(oauth_providers(openai_oauth_settings()), client, wall_clock=lambda: NOW)
    auth = await flows.start("openai-responses")
    parts = urlsplit(auth.authorize_url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == AUTHORIZE_URL
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    state, challenge = query.pop("state"), query.pop("code_challenge")
    assert query == {
        "response_type": "code",
        "client_id": OPENAI_CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid profile email offline_access",
        "code_challenge_method": "S256",
        "id_token_add_organizations": "true",
        "codex_cli_simplified_flow": "true",
        "originator": "codex_cli_rs",
    }

    # The admin pastes the URL the browser was sent to (nothing listens on localhost:1455).
    pasted = f"{REDIRECT_URI}?code={GOOD_CODE}&scope=openid+profile&state={state}"
    credentials = await flows.finish(auth.session_id, pasted, account_type="openai-responses")

    [sent] = fake.requests
    assert fake.encodings == ["application/x-www-form-urlencoded"]
    assert challenge_for(sent.pop("code_verifier")) == challenge
    assert sent == {"grant_type": "authorization_code", "code": GOOD_CODE, "redirect_uri": REDIRECT_URI,
                    "client_id": OPENAI_CLIENT_ID}
    assert credentials["access_token"] == "oat-login" and credentials["refresh_token"] == "ort-login"
    assert credentials["expires_at"] == int(NOW + LIFETIME)
    assert credentials["id_token"] == id_token("acct-login")
    assert credentials["chatgpt_account_id"] == "acct-login"


class Saved:
    def __init__(self) -> None:
        self.calls: list[tuple[int, dict[str, Any]]] = []

    async def __call__(self, account_id: int, credentials: dict[str, Any]) -> None:
        await asyncio.sleep(0)
        self.calls.append((account_id, credentials))


def expiring(expires_in: float) -> dict[str, Any]:
    return {"access_token": "oat-old", "refresh_token": "ort-old", "expires_at": int(NOW + expires_in),
            "id_token": id_token("acct-old"), "chatgpt_account_id": "acct-old"}


async def test_refresh_before_expiry_updates_the_account_id(fake: FakeOpenAIAuth, client: httpx.AsyncClient):
    saved = Saved()
    manager = TokenManager(oauth_providers(openai_oauth_settings()), client, saved, skew=300, clock=lambda: NOW)
    assert await manager.access_token(ACCOUNT, expiring(3600)) == "oat-old"
    assert fake.requests == []

    assert await manager.access_token(ACCOUNT, expiring(60)) == "oat-refresh1"
    [sent] = fake.requests
    assert fake.encodings == ["application/json"]
    assert sent == {"grant_type": "refresh_token", "refresh_token": "ort-old", "client_id": OPENAI_CLIENT_ID,
                    "scope": "openid profile email"}
    [(account_id, stored)] = saved.calls
    assert account_id == 11
    assert stored["access_token"] == "oat-refresh1" and stored["refresh_token"] == "ort-refresh1"
    assert stored["id_token"] == id_token("acct-refresh1")
    assert stored["chatgpt_account_id"] == "acct-refresh1"
    assert stored["expires_at"] == int(NOW + LIFETIME)
    # A caller still holding the old credentials sees the new facts.
    assert manager.latest(ACCOUNT, expiring(60))["chatgpt_account_id"] == "acct-refresh1"


async def test_twenty_concurrent_callers_share_one_refresh(fake: FakeOpenAIAuth, client: httpx.AsyncClient):
    saved = Saved()
    manager = TokenManager(oauth_providers(openai_oauth_settings()), client, saved, skew=300, clock=lambda: NOW)
    fake.delay = 0.05
    tokens = await asyncio.gather(*[manager.access_token(ACCOUNT, expiring(10)) for _ in range(20)])
    assert set(tokens) == {"oat-refresh1"}
    assert len(fake.refresh_requests) == 1 and len(saved.calls) == 1


async def test_refused_refresh_needs_reauthorization(fake: FakeOpenAIAuth, client: httpx.AsyncClient):
    manager = TokenManager(oauth_providers(openai_oauth_settings()), client, Saved(), skew=300, clock=lambda: NOW)
    fake.refused_refresh_tokens.add("ort-old")
    with pytest.raises(ReauthorizationRequired, match="refresh token was refused"):
        await manager.access_token(ACCOUNT, expiring(-10))


def test_claims_read_without_a_signature_check_and_garbage_ignored():
    assert unverified_claims(id_token("acct-9"))["email"] == "dev@example.test"
    for garbage in (None, 3, "", "not-a-jwt", "a.b.c", "x.y"):
        assert unverified_claims(garbage) == {}
    provider = oauth_providers(OAuthSettings())["openai-responses"]
    assert claims_facts(provider, id_token("acct-9")) == {"chatgpt_account_id": "acct-9"}
    assert claims_facts(provider, "a.b.c") == {}
    assert claims_facts(oauth_providers(OAuthSettings())["claude-official"], id_token("acct-9")) == {}
