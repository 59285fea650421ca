"""Pending logins: the authorize URL, finishing with a pasted code or a callback URL, and refusals."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from aiproxy.oauth.exchange import InvalidGrant, OAuthError
from aiproxy.oauth.flows import FlowError, OAuthFlows, parse_code
from aiproxy.oauth.pkce import challenge_for
from aiproxy.oauth.providers import CLAUDE_CLIENT_ID, oauth_providers
from aiproxy.state import MemoryState
from tests.fakes.oauth_provider import (
    AUTHORIZE_URL,
    GOOD_CODE,
    LIFETIME,
    REDIRECT_URI,
    FakeTokenEndpoint,
    oauth_settings,
)

pytestmark = pytest.mark.anyio

NOW = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake() -> FakeTokenEndpoint:
    return FakeTokenEndpoint()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def flows(fake: FakeTokenEndpoint, clock: Clock):
    async with httpx.AsyncClient(transport=fake.transport()) as client:
        yield OAuthFlows(oauth_providers(oauth_settings()), client, logins=MemoryState(clock=clock), ttl=600,
                         wall_clock=lambda: NOW)


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_default_claude_provider_facts():
    from aiproxy.settings import OAuthSettings

    p = oauth_providers(OAuthSettings())["claude-official"]
    assert p.authorize_url == "https://claude.ai/oauth/authorize"
    assert p.token_url == "https://platform.claude.com/v1/oauth/token"
    assert p.redirect_uri == "https://platform.claude.com/oauth/code/callback"
    assert p.client_id == "9d1c250a-e61b-44d9-88ed-5944d1962f5e"
    assert p.scope == "org:create_api_key user:profile user:inference user:sessions:claude_code"
    assert p.token_encoding == "json" and p.platform == "claude"


def test_oauth_urls_from_env():
    from aiproxy.settings import Settings

    s = Settings.from_env({
        "AIPROXY_CLAUDE_OAUTH_AUTHORIZE_URL": "http://a/authorize",
        "AIPROXY_CLAUDE_OAUTH_TOKEN_URL": "http://a/token",
        "AIPROXY_CLAUDE_OAUTH_REDIRECT_URI": "http://a/cb",
        "AIPROXY_OAUTH_REFRESH_SKEW_SECONDS": "120",
        "AIPROXY_OAUTH_SESSION_TTL_SECONDS": "60",
    })
    assert (s.oauth.claude_authorize_url, s.oauth.claude_token_url, s.oauth.claude_redirect_uri) == (
        "http://a/authorize", "http://a/token", "http://a/cb")
    assert (s.oauth.refresh_skew_seconds, s.oauth.session_ttl_seconds) == (120.0, 60.0)


async def test_authorize_url_carries_client_redirect_scope_challenge_and_state(flows: OAuthFlows):
    auth = await flows.start("claude-official")
    assert auth.authorize_url.startswith(AUTHORIZE_URL + "?")
    q = query_of(auth.authorize_url)
    assert q["client_id"] == CLAUDE_CLIENT_ID
    assert q["redirect_uri"] == REDIRECT_URI
    assert q["response_type"] == "code"
    assert q["scope"] == "org:create_api_key user:profile user:inference user:sessions:claude_code"
    assert q["code_challenge_method"] == "S256" and len(q["code_challenge"]) == 43
    assert len(q["state"]) >= 32 and q["code"] == "true"
    assert auth.expires_in == 600 and auth.session_id
    assert (await flows.start("claude-official")).session_id != auth.session_id


async def test_finish_with_pasted_code_and_state(flows: OAuthFlows, fake: FakeTokenEndpoint):
    auth = await flows.start("claude-official")
    q = query_of(auth.authorize_url)
    credentials = await flows.finish(auth.session_id, f"  {GOOD_CODE}#{q['state']}\n")

    assert credentials["access_token"] == "at-login" and credentials["refresh_token"] == "rt-login"
    assert credentials["expires_at"] == int(NOW + LIFETIME)
    assert credentials["scopes"] == ["user:inference", "user:profile"]
    assert credentials["organization"] == {"uuid": "org-1", "name": "Acme"}
    assert credentials["account"]["email_address"] == "a@acme.test"
    [sent] = fake.requests
    assert sent["grant_type"] == "authorization_code" and sent["code"] == GOOD_CODE
    assert sent["client_id"] == CLAUDE_CLIENT_ID and sent["redirect_uri"] == REDIRECT_URI
    assert sent["state"] == q["state"]
    # The verifier sent is the one behind the challenge in the authorize URL.
    assert challenge_for(sent["code_verifier"]) == q["code_challenge"]
    # Used up: the same session cannot be finished twice.
    with pytest.raises(FlowError, match="unknown or expired"):
        await flows.finish(auth.session_id, f"{GOOD_CODE}#{q['state']}")


async def test_finish_with_callback_url(flows: OAuthFlows, fake: FakeTokenEndpoint):
    auth = await flows.start("claude-official")
    state = query_of(auth.authorize_url)["state"]
    url = REDIRECT_URI + "?" + urlencode({"code": GOOD_CODE, "state": state})
    credentials = await flows.finish(auth.session_id, url, account_type="claude-official")
    assert credentials["access_token"] == "at-login"
    assert fake.requests[0]["code"] == GOOD_CODE


async def test_finish_with_bare_code(flows: OAuthFlows):
    auth = await flows.start("claude-official")
    assert (await flows.finish(auth.session_id, GOOD_CODE))["access_token"] == "at-login"


async def test_wrong_state_is_refused_and_the_session_kept(flows: OAuthFlows, fake: FakeTokenEndpoint):
    auth = await flows.start("claude-official")
    with pytest.raises(FlowError, match="state does not match"):
        await flows.finish(auth.session_id, f"{GOOD_CODE}#someone-elses-state")
    assert fake.requests == []  # refused before any exchange
    state = query_of(auth.authorize_url)["state"]
    assert (await flows.finish(auth.session_id, f"{GOOD_CODE}#{state}"))["access_token"] == "at-login"


async def test_unknown_and_expired_sessions(flows: OAuthFlows, clock: Clock):
    with pytest.raises(FlowError, match="unknown or expired"):
        await flows.finish("no-such-session", GOOD_CODE)
    auth = await flows.start("claude-official")
    clock.now += 601
    with pytest.raises(FlowError, match="unknown or expired"):
        await flows.finish(auth.session_id, GOOD_CODE)


async def test_unknown_type_and_type_mismatch(flows: OAuthFlows):
    with pytest.raises(FlowError, match="no OAuth login"):
        await flows.start("claude-console")
    auth = await flows.start("claude-official")
    with pytest.raises(FlowError, match="started for claude-official"):
        await flows.finish(auth.session_id, GOOD_CODE, account_type="openai-oauth")


async def test_refused_code_and_provider_outage(flows: OAuthFlows, fake: FakeTokenEndpoint):
    auth = await flows.start("claude-official")
    with pytest.raises(InvalidGrant, match="invalid_grant"):
        await flows.finish(auth.session_id, "wrong-code")
    fake.fail_with = 503
    with pytest.raises(OAuthError, match="503"):
        await flows.finish(auth.session_id, GOOD_CODE)


def test_parse_code_shapes():
    assert parse_code("abc#st") == ("abc", "st")
    assert parse_code("abc") == ("abc", None)
    assert parse_code("https://x/cb?code=abc&state=st") == ("abc", "st")
    assert parse_code("https://x/cb?code=abc%23st") == ("abc", "st")
    with pytest.raises(FlowError, match="access_denied"):
        parse_code("https://x/cb?error=access_denied&error_description=no")
    with pytest.raises(FlowError, match="no code"):
        parse_code("https://x/cb?state=st")
    with pytest.raises(FlowError):
        parse_code("#st")
