"""openai-responses accounts through the admin API: a ChatGPT login (start, then finish with
the localhost:1455 callback URL or the bare code), Codex CLI's auth.json pasted as it is,
plain tokens, or an API key."""

from __future__ import annotations

from typing import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from starlette.testclient import TestClient

from aiproxy.admin.api import create_admin_app
from aiproxy.admin.context import AdminContext
from aiproxy.oauth.flows import OAuthFlows
from aiproxy.oauth.providers import OPENAI_CLIENT_ID, oauth_providers
from tests.admin.conftest import bearer, run
from tests.fakes.openai_oauth import GOOD_CODE, REDIRECT_URI, FakeOpenAIAuth, id_token, openai_oauth_settings

START = "/oauth/openai-responses/start"
FINISH = "/oauth/openai-responses/finish"


@pytest.fixture
def fake_auth() -> FakeOpenAIAuth:
    return FakeOpenAIAuth()


@pytest.fixture
def oauth_client(ctx: AdminContext, fake_auth: FakeOpenAIAuth) -> Iterator[TestClient]:
    http = httpx.AsyncClient(transport=fake_auth.transport())
    ctx.oauth = OAuthFlows(oauth_providers(openai_oauth_settings()), http)
    with TestClient(create_admin_app(ctx)) as c:
        yield c


def started(client: TestClient, admin: dict[str, str]) -> tuple[str, str]:
    r = client.post(START, headers=admin)
    assert r.status_code == 200, r.text
    query = parse_qs(urlsplit(r.json()["authorize_url"]).query)
    assert query["client_id"] == [OPENAI_CLIENT_ID] and query["redirect_uri"] == [REDIRECT_URI]
    return r.json()["session_id"], query["state"][0]


def stored_credentials(ctx: AdminContext, account_id: int) -> dict:
    account = run(ctx.stores.accounts.get(account_id))
    assert account is not None
    return ctx.cipher.decrypt(account.credentials)


def test_login_with_the_callback_url_creates_an_account(oauth_client: TestClient, admin_token: str,
                                                        ctx: AdminContext, fake_auth: FakeOpenAIAuth):
    admin = bearer(admin_token)
    session_id, state = started(oauth_client, admin)
    r = oauth_client.post(FINISH, headers=admin, json={
        "session_id": session_id, "code": f"{REDIRECT_URI}?code={GOOD_CODE}&scope=openid&state={state}",
        "name": "chatgpt-pro", "priority": 10})
    assert r.status_code == 201, r.text
    account = r.json()
    assert (account["platform"], account["type"], account["name"]) == ("openai", "openai-responses", "chatgpt-pro")
    assert account["oauth"]["chatgpt_account_id"] == "acct-login"
    assert "oat-login" not in r.text and "ort-login" not in r.text and "id_token" not in r.text

    credentials = stored_credentials(ctx, account["id"])
    assert credentials["access_token"] == "oat-login" and credentials["refresh_token"] == "ort-login"
    assert credentials["chatgpt_account_id"] == "acct-login" and credentials["id_token"] == id_token("acct-login")
    assert fake_auth.encodings == ["application/x-www-form-urlencoded"]


def test_bare_code_reauthorizes_and_type_mismatch_refused(oauth_client: TestClient, admin_token: str,
                                                          ctx: AdminContext):
    admin = bearer(admin_token)
    r = oauth_client.post("/accounts", headers=admin, json={
        "name": "codex", "platform": "openai", "type": "openai-responses",
        "credentials": {"access_token": "oat-old", "refresh_token": "ort-old"}})
    assert r.status_code == 201, r.text
    account_id = r.json()["id"]
    other = oauth_client.post("/accounts", headers=admin, json={
        "name": "max", "platform": "claude", "type": "claude-official", "credentials": {"access_token": "x"}})

    session_id, _ = started(oauth_client, admin)
    r = oauth_client.post(FINISH, headers=admin, json={
        "session_id": session_id, "code": GOOD_CODE, "account_id": other.json()["id"]})
    assert r.status_code == 400 and "not openai-responses" in r.json()["error"]["message"]
    r = oauth_client.post(FINISH, headers=admin, json={
        "session_id": session_id, "code": GOOD_CODE, "account_id": account_id})
    assert r.status_code == 200, r.text
    assert stored_credentials(ctx, account_id)["chatgpt_account_id"] == "acct-login"


def test_codex_auth_json_pasted_as_it_is(client: TestClient, admin: dict[str, str], ctx: AdminContext):
    access = jwt.encode({"exp": 1_900_000_000, "sub": "u"}, "k" * 32, algorithm="HS256")
    auth_json = {"OPENAI_API_KEY": None, "last_refresh": "2026-11-01T10:00:00Z", "tokens": {
        "id_token": id_token("acct-file"), "access_token": access, "refresh_token": "ort-file",
        "account_id": "acct-given"}}
    r = client.post("/accounts", headers=admin, json={
        "name": "from-codex", "platform": "openai", "type": "openai-responses", "credentials": auth_json})
    assert r.status_code == 201, r.text
    assert stored_credentials(ctx, r.json()["id"]) == {
        "access_token": access, "refresh_token": "ort-file", "id_token": id_token("acct-file"),
        "chatgpt_account_id": "acct-given", "expires_at": 1_900_000_000}

    # Without account_id, it comes from the id token; an opaque access token has no expiry.
    r = client.patch(f"/accounts/{r.json()['id']}", headers=admin, json={"credentials": {
        "tokens": {"id_token": id_token("acct-claim"), "access_token": "opaque", "refresh_token": "rt"}}})
    assert r.status_code == 200, r.text
    assert stored_credentials(ctx, r.json()["id"]) == {
        "access_token": "opaque", "refresh_token": "rt", "id_token": id_token("acct-claim"),
        "chatgpt_account_id": "acct-claim"}


def test_api_key_forms_and_refusals(client: TestClient, admin: dict[str, str], ctx: AdminContext):
    r = client.post("/accounts", headers=admin, json={
        "name": "key", "platform": "openai", "type": "openai-responses", "credentials": {"api_key": " sk-1\n"}})
    assert r.status_code == 201, r.text
    account_id = r.json()["id"]
    assert stored_credentials(ctx, account_id) == {"api_key": "sk-1"}
    # Codex's auth.json of an API-key login.
    r = client.patch(f"/accounts/{account_id}", headers=admin, json={"credentials": {"OPENAI_API_KEY": "sk-2",
                                                                                     "tokens": None}})
    assert r.status_code == 200, r.text
    assert stored_credentials(ctx, account_id) == {"api_key": "sk-2"}

    for bad, field in [({}, "access_token"), ({"api_key": ""}, "api_key"), ({"tokens": {}}, "access_token"),
                       ({"access_token": "a", "id_token": 5}, "id_token"),
                       ({"access_token": "a", "chatgpt_account_id": 5}, "chatgpt_account_id")]:
        r = client.patch(f"/accounts/{account_id}", headers=admin, json={"credentials": bad})
        assert r.status_code == 400 and field in r.json()["error"]["message"], (bad, r.text)
