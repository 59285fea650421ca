"""OAuth logins through the admin API: start, finish (create or re-authorize), pasted tokens,
and the whole way through the gateway to a proxied request carrying the new Bearer token."""

from __future__ import annotations

from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.testclient import TestClient

from aiproxy.admin.api import create_admin_app
from aiproxy.admin.context import AdminContext
from aiproxy.oauth.flows import OAuthFlows
from aiproxy.oauth.providers import oauth_providers
from aiproxy.security.cipher import CredentialCipher
from aiproxy.security.tokens import TokenIssuer
from tests.admin.conftest import bearer, run
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.oauth_provider import GOOD_CODE, TOKEN_HOST, FakeTokenEndpoint, HostRouter, oauth_settings
from tests.harness import ENCRYPTION_KEY, start_harness

START = "/oauth/claude-official/start"
FINISH = "/oauth/claude-official/finish"


@pytest.fixture
def fake_tokens() -> FakeTokenEndpoint:
    return FakeTokenEndpoint()


@pytest.fixture
def oauth_client(ctx: AdminContext, fake_tokens: FakeTokenEndpoint) -> Iterator[TestClient]:
    http = httpx.AsyncClient(transport=fake_tokens.transport())
    ctx.oauth = OAuthFlows(oauth_providers(oauth_settings()), http)
    with TestClient(create_admin_app(ctx)) as c:
        yield c


def started(client: TestClient, admin: dict[str, str]) -> tuple[str, str]:
    r = client.post(START, headers=admin)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["expires_in"] == 600
    state = parse_qs(urlsplit(body["authorize_url"]).query)["state"][0]
    return body["session_id"], state


def test_start_and_finish_create_an_account(oauth_client: TestClient, admin_token: str, ctx: AdminContext,
                                            fake_tokens: FakeTokenEndpoint):
    admin = bearer(admin_token)
    session_id, state = started(oauth_client, admin)
    r = oauth_client.post(FINISH, headers=admin, json={
        "session_id": session_id, "code": f"{GOOD_CODE}#{state}",
        "name": "max-1", "priority": 5, "models": ["claude-sonnet-4-5"]})
    assert r.status_code == 201, r.text
    account = r.json()
    assert (account["name"], account["platform"], account["type"]) == ("max-1", "claude", "claude-official")
    assert account["priority"] == 5 and account["models"] == ["claude-sonnet-4-5"]
    assert account["has_credentials"] is True
    assert account["oauth"]["organization"] == {"uuid": "org-1", "name": "Acme"}
    assert isinstance(account["oauth"]["expires_at"], int)
    assert "at-login" not in r.text and "rt-login" not in r.text

    stored = run(ctx.stores.accounts.get(account["id"]))
    assert stored is not None
    credentials = ctx.cipher.decrypt(stored.credentials)
    assert credentials["access_token"] == "at-login" and credentials["refresh_token"] == "rt-login"
    assert fake_tokens.requests[0]["grant_type"] == "authorization_code"


def test_finish_with_callback_url_reauthorizes_an_existing_account(oauth_client: TestClient, admin_token: str,
                                                                   ctx: AdminContext):
    admin = bearer(admin_token)
    r = oauth_client.post("/accounts", headers=admin, json={
        "name": "max-2", "platform": "claude", "type": "claude-official",
        "credentials": {"access_token": "at-old", "refresh_token": "rt-old"}})
    assert r.status_code == 201, r.text
    account_id = r.json()["id"]
    session_id, state = started(oauth_client, admin)
    r = oauth_client.post(FINISH, headers=admin, json={
        "session_id": session_id, "account_id": account_id,
        "code": f"https://login.test/oauth/code/callback?code={GOOD_CODE}&state={state}"})
    assert r.status_code == 200, r.text
    assert r.json()["id"] == account_id and r.json()["name"] == "max-2"
    stored = run(ctx.stores.accounts.get(account_id))
    assert stored is not None and ctx.cipher.decrypt(stored.credentials)["access_token"] == "at-login"


def test_finish_refusals(oauth_client: TestClient, admin_token: str, fake_tokens: FakeTokenEndpoint):
    admin = bearer(admin_token)
    session_id, state = started(oauth_client, admin)

    def finish(**body: Any) -> httpx.Response:
        return oauth_client.post(FINISH, headers=admin, json={"session_id": session_id, "name": "x", **body})

    r = finish(code=f"{GOOD_CODE}#wrong-state")
    assert r.status_code == 400 and r.json()["error"]["type"] == "oauth_error"
    r = finish(code="bad-code")
    assert r.status_code == 400 and r.json()["error"]["type"] == "oauth_code_rejected"
    r = oauth_client.post(FINISH, headers=admin, json={"session_id": session_id, "code": GOOD_CODE})
    assert r.status_code == 400 and "name" in r.json()["error"]["message"]
    r = finish(code=GOOD_CODE, account_id=999)
    assert r.status_code == 404
    r = finish(code=GOOD_CODE, session_id="nope")
    assert r.status_code == 400 and "unknown or expired" in r.json()["error"]["message"]
    fake_tokens.fail_with = 503
    r = finish(code=GOOD_CODE)
    assert r.status_code == 502 and r.json()["error"]["type"] == "oauth_provider_error"
    # None of the refusals above spent the session's code on an unchecked request.
    assert len(fake_tokens.requests) == 2


def test_start_needs_an_admin_and_an_oauth_type(oauth_client: TestClient, admin_token: str, make_logged_in_user):
    _, user = make_logged_in_user("bob")
    assert oauth_client.post(START, headers=user).status_code == 403
    assert oauth_client.post(START).status_code == 401
    r = oauth_client.post("/oauth/claude-console/start", headers=bearer(admin_token))
    assert r.status_code == 400 and "no OAuth login" in r.json()["error"]["message"]


def test_oauth_endpoints_absent_without_flows(client: TestClient, admin: dict[str, str]):
    r = client.post(START, headers=admin)
    assert r.status_code == 404 and "not enabled" in r.json()["error"]["message"]


def test_pasted_tokens_through_the_accounts_endpoints(client: TestClient, admin: dict[str, str], ctx: AdminContext):
    r = client.post("/accounts", headers=admin, json={
        "name": "pasted", "platform": "claude", "type": "claude-official",
        "credentials": {"access_token": " at-1\n", "refresh_token": "rt-1", "expires_at": 1_900_000_000}})
    assert r.status_code == 201, r.text
    assert "at-1" not in r.text
    account_id = r.json()["id"]
    stored = run(ctx.stores.accounts.get(account_id))
    assert stored is not None
    assert ctx.cipher.decrypt(stored.credentials) == {
        "access_token": "at-1", "refresh_token": "rt-1", "expires_at": 1_900_000_000}

    # Claude Code's own credentials file, pasted as it is (expiresAt in milliseconds).
    r = client.patch(f"/accounts/{account_id}", headers=admin, json={"credentials": {"claudeAiOauth": {
        "accessToken": "at-2", "refreshToken": "rt-2", "expiresAt": 1_900_000_000_000,
        "scopes": ["user:inference"]}}})
    assert r.status_code == 200, r.text
    stored = run(ctx.stores.accounts.get(account_id))
    assert stored is not None
    assert ctx.cipher.decrypt(stored.credentials) == {
        "access_token": "at-2", "refresh_token": "rt-2", "expires_at": 1_900_000_000, "scopes": ["user:inference"]}

    for bad, field in [({}, "access_token"), ({"access_token": "a", "refresh_token": 3}, "refresh_token"),
                       ({"access_token": "a", "expires_at": "soon"}, "expires_at")]:
        r = client.patch(f"/accounts/{account_id}", headers=admin, json={"credentials": bad})
        assert r.status_code == 400 and field in r.json()["error"]["message"], r.text


@pytest.mark.anyio
async def test_login_then_proxied_request_uses_the_new_token(anyio_backend: str):
    fake_anthropic, fake_tokens = FakeAnthropic(), FakeTokenEndpoint()
    transport = HostRouter({TOKEN_HOST: fake_tokens.transport()}, httpx.ASGITransport(app=fake_anthropic.app()))
    async with start_harness(transport, oauth=oauth_settings()) as h:
        # The console account the harness adds would compete; this test is about the OAuth one.
        [console] = await h.stores.accounts.list()
        assert console.id is not None
        await h.stores.accounts.delete(console.id)
        admin = next(u for u in await h.stores.users.list() if u.role == "admin")
        assert admin.id is not None
        headers = bearer(TokenIssuer("test-jwt-secret").issue(admin.id, "admin"))
        admin.must_change_password = False
        await h.stores.users.update(admin)

        r = await h.http.post("/admin/api" + START, headers=headers)
        assert r.status_code == 200, r.text
        state = parse_qs(urlsplit(r.json()["authorize_url"]).query)["state"][0]
        r = await h.http.post("/admin/api" + FINISH, headers=headers, json={
            "session_id": r.json()["session_id"], "code": f"{GOOD_CODE}#{state}", "name": "max-1"})
        assert r.status_code == 201, r.text
        account_id = r.json()["id"]
        stored = await h.stores.accounts.get(account_id)
        assert stored is not None
        assert CredentialCipher(ENCRYPTION_KEY).decrypt(stored.credentials)["access_token"] == "at-login"

        r = await h.http.post("/claude/v1/messages", headers={"x-api-key": h.key, "anthropic-version": "2023-06-01"},
                              json={"model": "claude-sonnet-4-5", "max_tokens": 8,
                                    "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 200, r.text
        [seen] = fake_anthropic.requests
        assert seen.headers["authorization"] == "Bearer at-login"
        assert "x-api-key" not in seen.headers
        assert seen.query == "beta=true"
        assert seen.headers["anthropic-beta"] == "oauth-2025-04-20"
        [record] = await h.records()
        assert record.account_id == account_id and record.status == 200
