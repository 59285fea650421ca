"""gemini-oauth accounts through the admin API: Google login start/finish, a clear 400 while the
client is not configured, and Gemini CLI's ~/.gemini/oauth_creds.json pasted as credentials."""

from __future__ import annotations

from typing import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.testclient import TestClient

from aiproxy.admin.api import create_admin_app
from aiproxy.admin.context import AdminContext
from aiproxy.oauth.flows import OAuthFlows
from aiproxy.oauth.providers import oauth_providers
from tests.admin.conftest import run
from tests.fakes.code_assist_upstream import GOOD_CODE, FakeGoogleToken, gemini_oauth_settings

START = "/oauth/gemini-oauth/start"
FINISH = "/oauth/gemini-oauth/finish"


@pytest.fixture
def fake_google() -> FakeGoogleToken:
    return FakeGoogleToken()


def admin_client(ctx: AdminContext, fake: FakeGoogleToken, **settings: str) -> TestClient:
    ctx.oauth = OAuthFlows(oauth_providers(gemini_oauth_settings(**settings)),
                           httpx.AsyncClient(transport=fake.transport()))
    return TestClient(create_admin_app(ctx))


@pytest.fixture
def oauth_client(ctx: AdminContext, fake_google: FakeGoogleToken) -> Iterator[TestClient]:
    with admin_client(ctx, fake_google) as c:
        yield c


def test_login_creates_a_gemini_account(oauth_client: TestClient, admin: dict[str, str], ctx: AdminContext,
                                        fake_google: FakeGoogleToken):
    r = oauth_client.post(START, headers=admin)
    assert r.status_code == 200, r.text
    query = parse_qs(urlsplit(r.json()["authorize_url"]).query)
    assert query["access_type"] == ["offline"] and query["prompt"] == ["consent"]
    r = oauth_client.post(FINISH, headers=admin, json={
        "session_id": r.json()["session_id"], "code": GOOD_CODE, "name": "google-1",
        "options": {"project_id": "my-proj"}})
    assert r.status_code == 201, r.text
    account = r.json()
    assert (account["platform"], account["type"], account["options"]) == ("gemini", "gemini-oauth",
                                                                          {"project_id": "my-proj"})
    assert isinstance(account["oauth"]["expires_at"], int) and "at-google" not in r.text
    stored = run(ctx.stores.accounts.get(account["id"]))
    assert stored is not None
    credentials = ctx.cipher.decrypt(stored.credentials)
    assert (credentials["access_token"], credentials["refresh_token"]) == ("at-google", "rt-google")
    assert fake_google.content_types == ["application/x-www-form-urlencoded"]


def test_start_without_client_settings_is_a_clear_400(ctx: AdminContext, admin: dict[str, str],
                                                      fake_google: FakeGoogleToken):
    with admin_client(ctx, fake_google, gemini_client_id="", gemini_client_secret="") as c:
        r = c.post(START, headers=admin)
    assert r.status_code == 400, r.text
    message = r.json()["error"]["message"]
    assert "AIPROXY_GEMINI_OAUTH_CLIENT_ID" in message and "AIPROXY_GEMINI_OAUTH_CLIENT_SECRET" in message


def test_gemini_cli_credentials_file_pasted_as_it_is(client: TestClient, admin: dict[str, str], ctx: AdminContext):
    oauth_creds = {"access_token": "ya29.at", "refresh_token": "1//rt", "token_type": "Bearer",
                   "expiry_date": 1_900_000_000_123, "id_token": "x.y.z",
                   "scope": "https://www.googleapis.com/auth/cloud-platform openid"}
    r = client.post("/accounts", headers=admin, json={
        "name": "pasted-google", "platform": "gemini", "type": "gemini-oauth", "credentials": oauth_creds})
    assert r.status_code == 201, r.text
    assert "ya29.at" not in r.text and "1//rt" not in r.text
    stored = run(ctx.stores.accounts.get(r.json()["id"]))
    assert stored is not None
    saved = ctx.cipher.decrypt(stored.credentials)
    assert (saved["access_token"], saved["refresh_token"], saved["expires_at"]) == ("ya29.at", "1//rt", 1_900_000_000)
    assert saved["scopes"] == ["https://www.googleapis.com/auth/cloud-platform", "openid"]
    assert "expiry_date" not in saved and "scope" not in saved

    r = client.post("/accounts", headers=admin, json={
        "name": "bad", "platform": "gemini", "type": "gemini-oauth", "credentials": {"refresh_token": "x"}})
    assert r.status_code == 400 and "access_token" in r.json()["error"]["message"]
