"""Gemini CLI's Google login as provider data: the authorize URL, a form-encoded code exchange
and refresh with the client secret, and clear refusals while the client is not configured."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from aiproxy.oauth.exchange import OAuthError
from aiproxy.oauth.flows import FlowError, OAuthFlows
from aiproxy.oauth.pkce import challenge_for
from aiproxy.oauth.providers import oauth_providers
from aiproxy.oauth.tokens import ReauthorizationRequired, TokenManager
from aiproxy.settings import OAuthSettings, Settings
from aiproxy.stores.entities import Account
from tests.fakes.code_assist_upstream import (
    CLIENT_ID,
    CLIENT_SECRET,
    GOOD_CODE,
    GOOGLE_AUTHORIZE_URL,
    GOOGLE_REDIRECT_URI,
    LIFETIME,
    FakeGoogleToken,
    gemini_oauth_settings,
)

pytestmark = pytest.mark.anyio

NOW = 1_800_000_000.0
SCOPE = ("https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/userinfo.email "
         "https://www.googleapis.com/auth/userinfo.profile")


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_default_gemini_provider_facts():
    p = oauth_providers(OAuthSettings())["gemini-oauth"]
    assert p.authorize_url == "https://accounts.google.com/o/oauth2/v2/auth"
    assert p.token_url == "https://oauth2.googleapis.com/token"
    assert p.redirect_uri == "https://codeassist.google.com/authcode"
    assert p.scope == SCOPE and p.token_encoding == "form" and p.platform == "gemini"
    # The client is not shipped: both values are settings, and missing until set.
    assert p.client_id == "" and p.client_secret is None
    assert p.missing_settings == ("AIPROXY_GEMINI_OAUTH_CLIENT_ID", "AIPROXY_GEMINI_OAUTH_CLIENT_SECRET")


def test_gemini_settings_from_env():
    s = Settings.from_env({
        "AIPROXY_GEMINI_OAUTH_CLIENT_ID": "id-1", "AIPROXY_GEMINI_OAUTH_CLIENT_SECRET": "secret-1",
        "AIPROXY_GEMINI_OAUTH_REDIRECT_URI": "http://x/cb", "AIPROXY_CODE_ASSIST_BASE_URL": "http://ca.test"})
    assert (s.oauth.gemini_client_id, s.oauth.gemini_client_secret, s.oauth.gemini_redirect_uri) == (
        "id-1", "secret-1", "http://x/cb")
    assert s.upstream.code_assist == "http://ca.test"
    assert oauth_providers(s.oauth)["gemini-oauth"].missing_settings == ()


async def test_authorize_url_and_form_encoded_exchange(anyio_backend: str):
    fake = FakeGoogleToken()
    async with httpx.AsyncClient(transport=fake.transport()) as client:
        flows = OAuthFlows(oauth_providers(gemini_oauth_settings()), client, wall_clock=lambda: NOW)
        auth = await flows.start("gemini-oauth")
        assert auth.authorize_url.startswith(GOOGLE_AUTHORIZE_URL + "?")
        q = query_of(auth.authorize_url)
        assert (q["client_id"], q["redirect_uri"], q["scope"], q["response_type"]) == (
            CLIENT_ID, GOOGLE_REDIRECT_URI, SCOPE, "code")
        assert (q["access_type"], q["prompt"], q["code_challenge_method"]) == ("offline", "consent", "S256")
        assert "client_secret" not in q

        # Google's user-code page shows the bare code; the callback URL works too.
        credentials = await flows.finish(auth.session_id, f"{GOOGLE_REDIRECT_URI}?code={GOOD_CODE}&state={q['state']}")
    [sent] = fake.requests
    assert fake.content_types == ["application/x-www-form-urlencoded"]
    assert sent["grant_type"] == "authorization_code" and sent["code"] == GOOD_CODE
    assert (sent["client_id"], sent["client_secret"], sent["redirect_uri"]) == (
        CLIENT_ID, CLIENT_SECRET, GOOGLE_REDIRECT_URI)
    assert challenge_for(sent["code_verifier"]) == q["code_challenge"]
    assert "state" not in sent  # Google's token endpoint takes no state
    assert credentials["access_token"] == "at-google" and credentials["refresh_token"] == "rt-google"
    assert credentials["expires_at"] == int(NOW + LIFETIME)


async def test_unconfigured_client_refused_with_the_settings_to_set(anyio_backend: str):
    settings = gemini_oauth_settings(gemini_client_secret="")
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(500))) as client:
        flows = OAuthFlows(oauth_providers(settings), client)
        with pytest.raises(FlowError, match="set AIPROXY_GEMINI_OAUTH_CLIENT_SECRET"):
            await flows.start("gemini-oauth")
        with pytest.raises(OAuthError, match="AIPROXY_GEMINI_OAUTH_CLIENT_SECRET"):
            from aiproxy.oauth.exchange import token_request

            await token_request(client, oauth_providers(settings)["gemini-oauth"], {"grant_type": "refresh_token"})


async def test_refresh_form_encoded_keeps_the_refresh_token(anyio_backend: str):
    fake, saved = FakeGoogleToken(), []

    async def save(account_id: int, credentials: dict[str, Any]) -> None:
        saved.append(credentials)

    account = Account(name="g", platform="gemini", type="gemini-oauth", id=1)
    async with httpx.AsyncClient(transport=fake.transport()) as client:
        tokens = TokenManager(oauth_providers(gemini_oauth_settings()), client, save)
        token = await tokens.access_token(
            account, {"access_token": "at-old", "refresh_token": "rt-google", "expires_at": int(time.time()) + 10})
        assert token == "at-google-r1"
        [sent] = fake.requests
        assert sent == {"grant_type": "refresh_token", "refresh_token": "rt-google",
                        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
        assert saved[0]["refresh_token"] == "rt-google"  # Google's answer has none: the old one stays

        fake.refused_refresh_tokens.add("rt-gone")
        with pytest.raises(ReauthorizationRequired, match="expired or revoked"):
            await tokens.access_token(
                Account(name="h", platform="gemini", type="gemini-oauth", id=2),
                {"access_token": "a", "refresh_token": "rt-gone", "expires_at": 1})
