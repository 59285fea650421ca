"""aiproxy/account_test.py: the one minimal request an account test sends, per
kind of upstream, and what it answers; through the admin API of a whole
gateway (so the app's wiring is covered too) and directly."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

import httpx
import pytest

from aiproxy import account_test
from aiproxy.adapters.base import UpstreamCall
from aiproxy.scheduler.pool import PoolAccount
from aiproxy.stores.entities import Account
from aiproxy.upstream_proxy import current_proxy
from tests.harness import UPSTREAM, UPSTREAM_KEY, Harness, start_harness

pytestmark = [pytest.mark.anyio, pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")]

PING = [{"role": "user", "content": "ping"}]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Upstream:
    """Records every request; answers with `answer(request)`."""

    def __init__(self, answer: Callable[[httpx.Request], httpx.Response] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.answer = answer or (lambda r: httpx.Response(200, json={"id": "x", "ok": True}))

    def handler(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return self.answer(request)


async def admin_headers(h: Harness) -> dict[str, str]:
    """The default admin, logged in with its initial password changed."""
    r = await h.http.post("/admin/api/login", json={"username": "admin", "password": "admin123"})
    assert r.status_code == 200, r.text
    headers = {"authorization": f"Bearer {r.json()['token']}"}
    r = await h.http.post("/admin/api/password", headers=headers,
                          json={"old_password": "admin123", "new_password": "a-new-password-1"})
    assert r.status_code == 200, r.text
    # The change ended the session it was made in; it answers the one to go on with.
    return {"authorization": f"Bearer {r.json()['token']}"}


async def run_test(h: Harness, account_id: int) -> dict[str, Any]:
    r = await h.http.post(f"/admin/api/accounts/{account_id}/test", headers=await admin_headers(h))
    assert r.status_code == 200, r.text
    result = r.json()
    assert set(result) == {"ok", "status", "latency_ms", "message"}
    assert isinstance(result["latency_ms"], int) and result["latency_ms"] >= 0
    return result


@dataclass
class Case:
    account: dict[str, Any]  # Harness.add_account arguments
    url: str
    body: dict[str, Any]
    auth: tuple[str, str]  # a header the upstream must get, and its value
    credentials: dict[str, Any] = field(default_factory=lambda: {"api_key": "acct-secret-key-1"})


CASES = {
    "claude-console": Case(
        {"name": "c", "platform": "claude", "type": "claude-console", "base_url": "https://anthropic.test"},
        "https://anthropic.test/v1/messages",
        {"model": "claude-haiku-4-5", "max_tokens": 1, "messages": PING},
        ("x-api-key", "acct-secret-key-1"),
    ),
    "claude-mapped-model": Case(
        {"name": "c", "platform": "claude", "type": "claude-console", "base_url": "https://anthropic.test",
         "models": ["claude-sonnet-4"], "model_mapping": {"claude-sonnet-4": "claude-sonnet-4-20250514"}},
        "https://anthropic.test/v1/messages",
        {"model": "claude-sonnet-4-20250514", "max_tokens": 1, "messages": PING},
        ("x-api-key", "acct-secret-key-1"),
    ),
    "ccr": Case(
        {"name": "c", "platform": "claude", "type": "ccr", "base_url": "http://ccr.test:3456",
         "models": ["deepseek-chat"]},
        "http://ccr.test:3456/v1/messages",
        {"model": "deepseek-chat", "max_tokens": 1, "messages": PING},
        ("authorization", "Bearer acct-secret-key-1"),
    ),
    "openai": Case(
        {"name": "o", "platform": "openai", "type": "openai", "base_url": "https://openai.test/v1",
         "model_mapping": {"gpt-x": "gpt-x-2026"}},
        "https://openai.test/v1/chat/completions",
        {"model": "gpt-x-2026", "messages": PING, "max_tokens": 1},
        ("authorization", "Bearer acct-secret-key-1"),
    ),
    "azure-openai": Case(
        {"name": "az", "platform": "openai", "type": "azure-openai", "base_url": "https://res-1.openai.azure.com",
         "models": ["gpt-4o"], "options": {"deployments": {"gpt-4o": "prod-4o"}}},
        "https://res-1.openai.azure.com/openai/deployments/prod-4o/chat/completions?api-version=2024-10-21",
        {"model": "gpt-4o", "messages": PING, "max_tokens": 1},
        ("api-key", "acct-secret-key-1"),
    ),
    "openai-responses": Case(
        {"name": "r", "platform": "openai", "type": "openai-responses", "base_url": "https://relay.test"},
        "https://relay.test/v1/responses",
        {"model": "gpt-5", "max_output_tokens": 16,
         "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "ping"}]}]},
        ("authorization", "Bearer acct-secret-key-1"),
    ),
    "gemini-api": Case(
        {"name": "g", "platform": "gemini", "type": "gemini-api", "base_url": "https://gemini.test"},
        "https://gemini.test/v1beta/models/gemini-2.5-flash:generateContent",
        {"contents": [{"role": "user", "parts": [{"text": "ping"}]}], "generationConfig": {"maxOutputTokens": 1}},
        ("x-goog-api-key", "acct-secret-key-1"),
    ),
    "gemini-api-first-model": Case(
        {"name": "g", "platform": "gemini", "type": "gemini-api", "base_url": "https://gemini.test",
         "models": ["gemini-2.5-pro", "gemini-2.5-flash"]},
        "https://gemini.test/v1beta/models/gemini-2.5-pro:generateContent",
        {"contents": [{"role": "user", "parts": [{"text": "ping"}]}], "generationConfig": {"maxOutputTokens": 1}},
        ("x-goog-api-key", "acct-secret-key-1"),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
async def test_the_minimal_request_per_platform(name: str) -> None:
    case = CASES[name]
    up = Upstream()
    async with start_harness(httpx.MockTransport(up.handler)) as h:
        account = await h.add_account(case.credentials, **case.account)
        result = await run_test(h, account.id)  # type: ignore[arg-type]
        assert result["ok"] is True and result["status"] == 200 and result["message"] == "ok"
        # Not usage: nothing was recorded for the test request.
        assert await h.records() == []
    [request] = up.requests
    assert request.method == "POST"
    assert str(request.url) == case.url
    assert json.loads(request.content) == case.body
    header, value = case.auth
    assert request.headers[header] == value
    assert request.headers["content-type"] == "application/json"


async def test_the_harness_account_and_anthropic_headers() -> None:
    up = Upstream()
    async with start_harness(httpx.MockTransport(up.handler)) as h:
        [account] = await h.stores.accounts.list()
        result = await run_test(h, account.id)  # type: ignore[arg-type]
    assert result["ok"] is True
    [request] = up.requests
    assert str(request.url) == f"{UPSTREAM}/v1/messages"
    assert request.headers["x-api-key"] == UPSTREAM_KEY
    assert request.headers["anthropic-version"] == "2023-06-01"


@pytest.mark.parametrize(
    "answer,message",
    [
        # Anthropic's error shape; the key the upstream echoed is hidden.
        (httpx.Response(401, json={"type": "error", "error": {"type": "authentication_error",
                                                               "message": f"invalid x-api-key {UPSTREAM_KEY}"}}),
         "invalid x-api-key ***"),
        # OpenAI's and Google's shape.
        (httpx.Response(429, json={"error": {"message": "Rate limit reached", "type": "requests"}}),
         "Rate limit reached"),
        (httpx.Response(403, json={"error": {"code": 403, "message": "API key not valid", "status": "DENIED"}}),
         "API key not valid"),
        # Not JSON: the text, cut short.
        (httpx.Response(502, text="Bad gateway " + "x" * 2000), "Bad gateway " + "x" * 487 + "…"),
        (httpx.Response(500, text=""), "HTTP 500"),
    ],
)
async def test_a_failing_upstream_is_reported_with_its_message(answer: httpx.Response, message: str) -> None:
    up = Upstream(lambda r: answer)
    async with start_harness(httpx.MockTransport(up.handler)) as h:
        [account] = await h.stores.accounts.list()
        result = await run_test(h, account.id)  # type: ignore[arg-type]
    assert result["ok"] is False
    assert result["status"] == answer.status_code
    assert result["message"] == message
    assert UPSTREAM_KEY not in json.dumps(result)


async def test_an_unreachable_upstream_has_no_status() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with start_harness(httpx.MockTransport(refuse)) as h:
        [account] = await h.stores.accounts.list()
        result = await run_test(h, account.id)  # type: ignore[arg-type]
    assert result["ok"] is False and result["status"] is None
    assert result["message"] == "upstream connection failed: ConnectError: connection refused"


# --- directly, without a gateway ------------------------------------------------


@dataclass
class FakePool:
    accounts: list[PoolAccount]


class RecordingAdapter:
    types = ("claude-console",)

    def __init__(self, answer: httpx.Response) -> None:
        self.answer = answer
        self.seen: list[tuple[UpstreamCall, str | None]] = []

    async def send(self, account: Account, credentials: dict[str, Any], call: UpstreamCall) -> httpx.Response:
        self.seen.append((call, current_proxy()))
        return self.answer


async def test_sent_through_the_accounts_proxy() -> None:
    account = Account("a", "claude", "claude-console", proxy="socks5://proxy.test:1080", id=7)
    adapter = RecordingAdapter(httpx.Response(200, json={}))
    pool = FakePool([PoolAccount(account, {"api_key": "k" * 20})])
    result = await account_test.test_account(pool, {"claude-console": adapter}, 7)  # type: ignore[arg-type]
    assert result["ok"] is True
    [(call, proxy)] = adapter.seen
    assert proxy == "socks5://proxy.test:1080"
    assert (call.method, call.path, call.model, call.stream) == ("POST", "/v1/messages", "claude-haiku-4-5", False)
    assert current_proxy() is None  # restored afterwards


async def test_an_account_not_in_the_pool_or_without_adapter() -> None:
    pool = FakePool([PoolAccount(Account("a", "claude", "bedrock", id=3), {})])
    missing = await account_test.test_account(pool, {}, 99)  # type: ignore[arg-type]
    assert missing["ok"] is False and missing["status"] is None and "not loaded" in missing["message"]
    no_adapter = await account_test.test_account(pool, {}, 3)  # type: ignore[arg-type]
    assert no_adapter["ok"] is False and "bedrock" in no_adapter["message"]


def test_codex_login_gets_instructions_instead_of_a_token_limit() -> None:
    account = Account("r", "openai", "openai-responses", models=["gpt-5-codex"])
    call = account_test.probe_call(account, {"access_token": "at", "chatgpt_account_id": "acc"})
    assert call.path == "/v1/responses" and call.json is not None
    assert call.json["model"] == "gpt-5-codex" and "max_output_tokens" not in call.json
    assert call.json["instructions"]


@pytest.mark.parametrize("account", [
    {"name": "g", "platform": "gemini", "type": "gemini-api", "base_url": "https://gemini.test",
     "models": ["../../v1beta/files?"]},
    {"name": "g", "platform": "gemini", "type": "gemini-api", "base_url": "https://gemini.test",
     "model_mapping": {"flash": "veo-3.0-generate-001:predictLongRunning"}},
    {"name": "az", "platform": "openai", "type": "azure-openai", "base_url": "https://res-1.openai.azure.com",
     "models": ["gpt-4o"], "options": {"deployments": {"gpt-4o": "../files?"}}},
])
async def test_a_model_no_upstream_url_can_carry_is_reported_unsent(account: dict[str, Any]) -> None:
    up = Upstream()
    async with start_harness(httpx.MockTransport(up.handler)) as h:
        created = await h.add_account({"api_key": "acct-secret-key-1"}, **account)
        result = await run_test(h, created.id)  # type: ignore[arg-type]
    assert result["ok"] is False and result["status"] is None
    assert "is not valid" in result["message"]
    assert up.requests == []
