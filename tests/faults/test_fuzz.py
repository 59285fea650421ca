"""1,000 hostile bodies on every proxied and admin route: no answer >= 500 but a 503 for an
unavailable pool, and every error answer JSON in the route's own shape.

In process: the gateway from create_app on memory stores, one fake upstream
(an httpx.MockTransport that answers every upstream path the adapters call
with a canned valid answer, whatever the body), accounts of several types on
each platform so the fuzz goes through their adapters and translations, and a
logged-in admin. Bodies come from tests/faults/fuzz_bodies.py with a fixed
seed, so a failure is reproduced by running the test again;
AIPROXY_FUZZ_BODIES sets how many each route gets (default 1,000).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import httpx
import orjson
import pytest
from argon2 import PasswordHasher
from starlette.routing import Route

import aiproxy.security.passwords as passwords
from aiproxy import MemoryStores, Settings, create_app
from aiproxy.security.api_keys import generate_api_key, hash_api_key, shown_prefix
from aiproxy.security.cipher import CredentialCipher
from aiproxy.settings import OAuthSettings, UpstreamURLs
from aiproxy.stores.entities import Account, ApiKey, User
from aiproxy.stores.protocols import Stores
from aiproxy.stores.sql import SQLStores
from tests.fakes import anthropic_upstream, bedrock_upstream, gemini_upstream, openai_upstream
from tests.faults.fuzz_bodies import bodies, query_strings

pytestmark = pytest.mark.anyio

N = int(os.environ.get("AIPROXY_FUZZ_BODIES", "1000"))
SEED = 20261201
ENCRYPTION_KEY = CredentialCipher.generate_key()
ADMIN_PASSWORD = "fuzz-admin-password"


# --- the fake upstream -------------------------------------------------------------------


def _wants_stream(request: httpx.Request) -> bool:
    try:
        data = orjson.loads(request.content)
    except orjson.JSONDecodeError:
        return False
    return isinstance(data, dict) and data.get("stream") is True


def _sse(pieces: list[bytes]) -> httpx.Response:
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=b"".join(pieces))


def upstream(request: httpx.Request) -> httpx.Response:
    """Every upstream the adapters call, answering as the real one does to a valid request."""
    path = request.url.path
    model = "fuzz-model"
    if path.endswith("/token"):  # OAuth code exchange and refresh, every provider
        return httpx.Response(
            200,
            json={
                "access_token": "fuzz-access",
                "refresh_token": "fuzz-refresh",
                "expires_in": 3600,
                "token_type": "Bearer",
                "id_token": _fake_id_token(),
                "account": {"uuid": "u", "email_address": "a@b.c"},
                "organization": {"uuid": "o", "name": "org"},
            },
        )
    if path.endswith("/v1/messages/count_tokens") or path.endswith("/count-tokens"):
        return httpx.Response(200, json={"input_tokens": 3, "inputTokens": 3})
    if path.endswith("/v1/messages"):
        if _wants_stream(request):
            return _sse(anthropic_upstream.stream_events(model))
        return httpx.Response(200, json=_anthropic_message(model))
    if "/model/" in path and path.endswith("/invoke-with-response-stream"):
        frames = [bedrock_upstream.chunk_frame(e) for e in bedrock_upstream.stream_events(model)]
        return httpx.Response(200, headers={"content-type": "application/vnd.amazon.eventstream"}, content=b"".join(frames))
    if "/model/" in path and path.endswith("/invoke"):
        return httpx.Response(200, json=_anthropic_message(model))
    if path.endswith("/chat/completions"):
        if _wants_stream(request):
            return _sse(openai_upstream.chat_stream(model, include_usage=True))
        return httpx.Response(200, json=openai_upstream.chat_completion(model))
    if path.endswith("/responses"):
        if _wants_stream(request) or "chatgpt" in request.url.host:
            return _sse(openai_upstream.responses_stream(model))
        item = openai_upstream.message_item(openai_upstream.TEXT)
        return httpx.Response(
            200, json=openai_upstream.response_object(model, "completed", [item], openai_upstream.RESPONSES_USAGE)
        )
    if path.endswith(":streamGenerateContent"):
        if request.url.params.get("alt") == "sse":
            return _sse(gemini_upstream.sse_pieces(model))
        return httpx.Response(200, json=None, content=b"".join(gemini_upstream.array_pieces(model)))
    if path.endswith(":generateContent"):
        return httpx.Response(200, json=gemini_upstream.response(model))
    if path.endswith(":countTokens"):
        return httpx.Response(200, json={"totalTokens": gemini_upstream.words(request.content.decode())})
    if path.endswith("/models"):
        return httpx.Response(200, json={"data": [{"id": model}], "models": [gemini_upstream.model_info(model)]})
    # Anything else: a 404 in the shape of the upstream asked.
    message = f"fake upstream has no {path}"
    if "gemini" in request.url.host or "codeassist" in request.url.host:
        return httpx.Response(404, json={"error": {"code": 404, "message": message, "status": "NOT_FOUND"}})
    if "anthropic" in request.url.host or "bedrock" in request.url.host or "ccr" in request.url.host:
        return httpx.Response(404, json={"type": "error", "error": {"type": "not_found_error", "message": message}})
    return httpx.Response(404, json={"error": {"message": message, "type": "invalid_request_error"}})


def _anthropic_message(model: str) -> dict[str, Any]:
    return {
        "id": "msg_fuzz",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": "hi"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": anthropic_upstream.USAGE,
    }


def _fake_id_token() -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    claims = {"email": "a@b.c", "https://api.openai.com/auth": {"chatgpt_account_id": "acct", "chatgpt_plan_type": "pro"}}
    return f"{part({'alg': 'none'})}.{part(claims)}.sig"


# --- the gateway -------------------------------------------------------------------------


@dataclass
class Gateway:
    http: httpx.AsyncClient
    stores: Stores
    key: str
    admin: dict[str, str]
    ids: dict[str, list[int]] = field(default_factory=dict)


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    # /login, /password and user creation hash for real; this test is about bodies, not Argon2.
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture(autouse=True)
def quiet_logs(caplog: pytest.LogCaptureFixture) -> None:
    # Refused bodies are logged by nobody; a traceback, if any, is kept for the failure report.
    caplog.set_level(logging.ERROR)


ACCOUNTS: list[dict[str, Any]] = [
    {"platform": "claude", "type": "claude-console", "credentials": {"api_key": "sk-ant-fuzz"}},
    {"platform": "claude", "type": "bedrock", "credentials": {"api_key": "bedrock-fuzz"}, "options": {"region": "us-east-1"}},
    {
        "platform": "claude",
        "type": "bedrock",
        "credentials": {"access_key_id": "AKIAFUZZ", "secret_access_key": "secret"},
        "options": {"region": "us-west-2"},
    },
    {"platform": "claude", "type": "ccr", "credentials": {"api_key": "ccr-fuzz"}, "base_url": "http://ccr.fuzz"},
    {"platform": "openai", "type": "openai", "credentials": {"api_key": "sk-fuzz"}},
    {"platform": "openai", "type": "openai-responses", "credentials": {"api_key": "sk-fuzz-responses"}},
    {
        "platform": "openai",
        "type": "azure-openai",
        "credentials": {"api_key": "azure-fuzz"},
        "base_url": "http://azure.fuzz",
        "options": {"deployments": {"gpt-4o": "prod"}},
    },
    {"platform": "gemini", "type": "gemini-api", "credentials": {"api_key": "gemini-fuzz"}},
    # Reached from /claude/v1/messages through the translators (formats/bridges), by the model's
    # name; before the Claude accounts (which serve any name there) by their priority.
    {"platform": "openai", "type": "openai", "credentials": {"api_key": "sk-fuzz-bridged"},
     "model_mapping": {"bridged-chat*": "gpt-4.1"}, "priority": 1},
    {"platform": "openai", "type": "openai-responses",
     "credentials": {"access_token": "fuzz-codex", "refresh_token": "r", "expires_at": 4102444800},
     "model_mapping": {"bridged-codex*": "gpt-5-codex"}, "priority": 1},
    {"platform": "gemini", "type": "gemini-api", "credentials": {"api_key": "gemini-fuzz-bridged"},
     "model_mapping": {"bridged-gemini*": "gemini-2.5-flash"}, "priority": 1},
]


@pytest.fixture
async def gateway(request: pytest.FixtureRequest, tmp_path: Path, anyio_backend: str) -> AsyncIterator[Gateway]:
    # Memory stores unless a test asks for SQLite (indirect parametrization):
    # a SQL driver refuses values (64-bit overflow) the memory stores take.
    kind = getattr(request, "param", "memory")
    stores: Stores = MemoryStores() if kind == "memory" else SQLStores(f"sqlite+aiosqlite:///{tmp_path / 'fuzz.db'}")
    settings = Settings(
        jwt_secret="fuzz-jwt-secret-long-enough-for-hs256",
        encryption_key=ENCRYPTION_KEY,
        admin_password=ADMIN_PASSWORD,
        usage_flush_seconds=0.05,
        upstream=UpstreamURLs(
            anthropic="http://anthropic.fuzz",
            openai="http://openai.fuzz",
            gemini="http://gemini.fuzz",
            bedrock="http://bedrock.fuzz/{region}",
            code_assist="http://codeassist.fuzz",
            codex="http://chatgpt.fuzz/backend-api/codex",
        ),
        oauth=OAuthSettings(
            claude_token_url="http://auth.fuzz/claude/token",
            gemini_token_url="http://auth.fuzz/gemini/token",
            openai_token_url="http://auth.fuzz/openai/token",
            gemini_client_id="fuzz-client",
            gemini_client_secret="fuzz-secret",
        ),
    )
    # The caller's own client: upstream requests never leave the process, even
    # for accounts the fuzz gives an outbound proxy.
    client = httpx.AsyncClient(transport=httpx.MockTransport(upstream))
    app = create_app(stores, settings, http_client=client)
    cipher = CredentialCipher(ENCRYPTION_KEY)
    async with app.router.lifespan_context(app):
        for i, spec in enumerate(ACCOUNTS):
            await stores.accounts.create(
                Account(name=f"fuzz-{i}", **{**spec, "credentials": cipher.encrypt(spec["credentials"])})
            )
        await app.state.gateway.pool.reload()
        user = await stores.users.create(User(username="alice", password_hash="x", role="user"))
        plain = generate_api_key()
        await stores.keys.create(ApiKey(name="fuzz", user_id=user.id, key_hash=hash_api_key(plain), key_prefix=shown_prefix(plain)))
        # raise_app_exceptions=False: a 500 is an answer to count and report, not a test crash.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
            token = await _admin_token(http)
            yield Gateway(http=http, stores=stores, key=plain, admin={"authorization": f"Bearer {token}"})
    await client.aclose()


async def _admin_token(http: httpx.AsyncClient) -> str:
    r = await http.post("/admin/api/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert r.status_code == 200, r.text
    token = r.json()["token"]
    new = ADMIN_PASSWORD + "-2"
    r = await http.post(
        "/admin/api/password",
        json={"old_password": ADMIN_PASSWORD, "new_password": new},
        headers={"authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200, r.text
    r = await http.post("/admin/api/login", json={"username": "admin", "password": new})
    assert r.status_code == 200, r.text
    return r.json()["token"]


# --- error shapes ------------------------------------------------------------------------


def anthropic_shape(body: Any) -> bool:
    return (
        isinstance(body, dict)
        and body.get("type") == "error"
        and isinstance(body.get("error"), dict)
        and isinstance(body["error"].get("type"), str)
        and isinstance(body["error"].get("message"), str)
    )


def openai_shape(body: Any) -> bool:
    return isinstance(body, dict) and isinstance(body.get("error"), dict) and isinstance(body["error"].get("message"), str)


def google_shape(body: Any) -> bool:
    error = body.get("error") if isinstance(body, dict) else None
    return (
        isinstance(error, dict)
        and isinstance(error.get("code"), int)
        and isinstance(error.get("message"), str)
        and isinstance(error.get("status"), str)
    )


def admin_shape(body: Any) -> bool:
    error = body.get("error") if isinstance(body, dict) else None
    return isinstance(error, dict) and isinstance(error.get("type"), str) and isinstance(error.get("message"), str)


# --- the routes --------------------------------------------------------------------------

TOOL_SCHEMA = {
    "type": "object",
    "properties": {"path": {"type": "string"}, "opts": {"type": "object", "properties": {"n": {"type": "integer"}}}},
    "required": ["path"],
}
CLAUDE = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 64,
    "stream": False,
    "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
    "messages": [
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "read", "input": {"path": "a"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]},
    ],
    "tools": [{"name": "read", "description": "reads", "input_schema": TOOL_SCHEMA}],
    "metadata": {"user_id": "user_abc_account_def_session_0f9e8d7c-0000-4000-8000-000000000000"},
    "thinking": {"type": "enabled", "budget_tokens": 1024},
}
OPENAI_CHAT = {
    "model": "gpt-4o",
    "stream": True,
    "stream_options": {"include_usage": True},
    "max_tokens": 64,
    "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": [{"type": "text", "text": "hi"}]}],
    "tools": [{"type": "function", "function": {"name": "read", "parameters": TOOL_SCHEMA}}],
    "tool_choice": "auto",
}
RESPONSES = {
    "model": "gpt-5-codex",
    "instructions": "You are Codex.",
    "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
    "tools": [{"type": "function", "name": "shell", "parameters": TOOL_SCHEMA}],
    "stream": True,
    "store": False,
    "prompt_cache_key": "0f9e8d7c-0000-4000-8000-000000000000",
    "reasoning": {"effort": "medium"},
}
GEMINI = {
    "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
    "systemInstruction": {"parts": [{"text": "be brief"}]},
    "generationConfig": {"maxOutputTokens": 64, "temperature": 0.5, "thinkingConfig": {"thinkingBudget": 128}},
    "tools": [{"functionDeclarations": [{"name": "read", "parameters": TOOL_SCHEMA}]}],
    "model": "gemini-2.5-flash",
}
# No tools: /gemini/v1/chat refuses them, and the fuzz should reach the translation.
GEMINI_CHAT = {k: v for k, v in OPENAI_CHAT.items() if k not in ("tools", "tool_choice")} | {"model": "gemini-2.5-flash"}


@dataclass
class Proxied:
    path: str
    template: dict[str, Any]
    auth: Callable[[str], dict[str, str]]
    shape: Callable[[Any], bool]


def x_api_key(key: str) -> dict[str, str]:
    return {"x-api-key": key, "anthropic-version": "2023-06-01"}


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def goog(key: str) -> dict[str, str]:
    return {"x-goog-api-key": key}


PROXIED = [
    Proxied("/claude/v1/messages", CLAUDE, x_api_key, anthropic_shape),
    Proxied("/claude/v1/messages/count_tokens", {k: v for k, v in CLAUDE.items() if k not in ("max_tokens", "stream")},
            x_api_key, anthropic_shape),
    # The same on OpenAI chat, Codex-backend and Gemini accounts, translated.
    Proxied("/claude/v1/messages", {**CLAUDE, "model": "bridged-chat-1"}, x_api_key, anthropic_shape),
    Proxied("/claude/v1/messages", {**CLAUDE, "model": "bridged-codex-1"}, x_api_key, anthropic_shape),
    Proxied("/claude/v1/messages", {**CLAUDE, "model": "bridged-gemini-1"}, x_api_key, anthropic_shape),
    Proxied("/openai/v1/chat/completions", OPENAI_CHAT, bearer, openai_shape),
    Proxied("/openai/v1/responses", RESPONSES, bearer, openai_shape),
    Proxied("/responses", RESPONSES, bearer, openai_shape),
    Proxied("/v1/responses", RESPONSES, bearer, openai_shape),
    Proxied("/gemini/v1beta/models/gemini-2.5-flash:generateContent", GEMINI, goog, google_shape),
    Proxied("/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", GEMINI, goog, google_shape),
    Proxied("/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent", GEMINI, goog, google_shape),
    Proxied("/gemini/v1beta/models/gemini-2.5-flash:countTokens", GEMINI, goog, google_shape),
    Proxied("/gemini/v1/models/gemini-2.5-flash:generateContent", GEMINI, goog, google_shape),
    Proxied("/gemini/v1/chat", GEMINI_CHAT, bearer, openai_shape),
]


@dataclass
class Failure:
    route: str
    label: str
    status: int
    answer: str

    def __str__(self) -> str:
        return f"{self.route} [{self.label[:80]}] -> {self.status}: {self.answer[:300]}"


def _check(route: str, label: str, response: httpx.Response, shape: Callable[[Any], bool], *, pool_503: bool) -> Failure | None:
    status = response.status_code
    if status >= 500 and not (pool_503 and status == 503):
        return Failure(route, label, status, response.text)
    if status >= 400:
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return Failure(route, label, status, "not JSON: " + response.text)
        if not shape(body):
            return Failure(route, label, status, "not the route's error shape: " + response.text)
        if status == 503 and pool_503 and "account" not in response.text and "available" not in response.text:
            return Failure(route, label, status, "a 503 that is not an unavailable pool: " + response.text)
    return None


def _report(failures: list[Failure], sent: int, caplog: pytest.LogCaptureFixture) -> str:
    # One trace per distinct error (its last line), from the gateway's own error logs.
    traces: dict[str, str] = {}
    for record in caplog.records:
        if record.levelno >= logging.ERROR and record.exc_text:
            traces.setdefault(record.exc_text.strip().splitlines()[-1], record.exc_text)
    lines = [f"{len(failures)} of {sent} answers failed:"] + [str(f) for f in failures[:15]] + list(traces.values())[:5]
    return "\n".join(lines)


@pytest.mark.parametrize("route", PROXIED, ids=lambda r: r.path)
async def test_proxied_route_survives_fuzzed_bodies(gateway: Gateway, route: Proxied, caplog: pytest.LogCaptureFixture) -> None:
    rng = random.Random(f"{SEED}:{route.path}")
    failures: list[Failure] = []
    statuses: dict[int, int] = {}
    headers = {**route.auth(gateway.key), "content-type": "application/json"}
    sent = 0
    for label, raw in bodies(route.template, rng, N):
        r = await gateway.http.post(route.path, content=raw, headers=headers)
        sent += 1
        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
        failure = _check(route.path, label, r, route.shape, pool_503=True)
        if failure:
            failures.append(failure)
    assert sent == N
    print(f"{route.path}: {dict(sorted(statuses.items()))}")
    assert not failures, _report(failures, sent, caplog)
    # The fuzz reached the upstream too, not only the gateway's refusals.
    assert statuses.get(200, 0) > 0, statuses


# --- admin routes ------------------------------------------------------------------------


ACCOUNT = {
    "name": "fuzzed",
    "platform": "claude",
    "type": "claude-console",
    "credentials": {"api_key": "sk-ant-fuzzed"},
    "base_url": None,
    "priority": 50,
    "enabled": True,
    "models": [],
    "model_mapping": {"claude-opus-4": "claude-opus-4-20250514"},
    "options": {},
    "weight": 1,
    "max_concurrency": None,
    "schedulable": True,
    "group": None,
    "proxy": None,
}
KEY = {
    "name": "fuzzed",
    "enabled": True,
    "expires_at": None,
    "expires_after_days": None,
    "platforms": ["claude"],
    "models": ["claude-*"],
    "allowed_clients": [],
    "user_id": 1,
    "account_id": None,
    "group": None,
    "shared_fallback": False,
    "rpm_limit": None,
    "max_concurrency": None,
    "daily_token_limit": None,
    "daily_cost_limit": None,
    "weekly_cost_limit": None,
    "total_cost_limit": None,
}
# A valid body for each (method, route path); routes not listed take none (their fuzzed body is ignored).
ADMIN_TEMPLATES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/login"): {"username": "admin", "password": "not-the-password"},
    ("POST", "/password"): {"old_password": "not-the-password", "new_password": "another-password-1"},
    ("POST", "/users"): {"username": "fuzzed", "password": "fuzzed-password-1", "role": "user"},
    ("PATCH", "/users/{id:int}"): {"enabled": True, "role": "user", "password": "fuzzed-password-2"},
    ("POST", "/accounts"): ACCOUNT,
    ("PATCH", "/accounts/{id:int}"): {k: v for k, v in ACCOUNT.items() if k not in ("platform", "type")},
    ("POST", "/keys"): KEY,
    ("PATCH", "/keys/{id:int}"): KEY,
    ("POST", "/oauth/{type}/start"): {"proxy": None},
    ("POST", "/oauth/{type}/finish"): {"session_id": "unknown", "code": "code#state", "name": "fuzzed", "priority": 50},
}
OAUTH_TYPES = ["claude-official", "openai-responses", "gemini-oauth", "nonsense", "..", "%00"]


def admin_routes() -> list[tuple[str, str]]:
    """Every (method, path) of the admin app, read from the app itself."""
    app = create_app(MemoryStores())
    admin = next(r for r in app.routes if getattr(r, "path", None) == "/admin/api")
    found = []
    for route in admin.routes:  # type: ignore[attr-defined]
        assert isinstance(route, Route)
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                found.append((method, route.path))
    assert ("POST", "/login") in found and ("POST", "/password") in found
    return found


ADMIN_ROUTES = admin_routes()


async def _target_ids(gateway: Gateway, path: str, rng: random.Random) -> str:
    """A concrete path: a real id (made fresh, as a DELETE may remove it) or one that cannot exist."""
    if "{id:int}" in path:
        if rng.random() < 0.6:
            if path.startswith("/users"):
                user = await gateway.stores.users.create(User(username=f"victim-{rng.random()}", password_hash="x", role="user"))
                ident = user.id
            elif path.startswith("/accounts"):
                cipher = CredentialCipher(ENCRYPTION_KEY)
                account = await gateway.stores.accounts.create(
                    Account(name="victim", platform="claude", type="claude-console", credentials=cipher.encrypt({"api_key": "k"}))
                )
                ident = account.id
            else:
                key = await gateway.stores.keys.create(
                    ApiKey(name="victim", user_id=1, key_hash=hash_api_key(generate_api_key()), key_prefix="ap-x")
                )
                ident = key.id
        else:
            ident = rng.choice([0, 999_999, 2**31, 2**63, 2**64, 10**30, 10**400])
        path = path.replace("{id:int}", str(ident))
    if "{type}" in path:
        path = path.replace("{type}", rng.choice(OAUTH_TYPES))
    return "/admin/api" + path


# On SQLite, every tenth of the same bodies (fixed cases and mutations alike):
# enough for what only a SQL store refuses (64-bit overflows), without
# doubling the suite's time (a SQLite write costs milliseconds).
@pytest.mark.parametrize("gateway", ["memory", "sqlite"], indirect=True)
@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES, ids=[f"{m} {p}" for m, p in ADMIN_ROUTES])
async def test_admin_route_survives_fuzzed_bodies(
    gateway: Gateway, method: str, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    rng = random.Random(f"{SEED}:{method}:{path}")
    template = ADMIN_TEMPLATES.get((method, path), {"ignored": True})
    failures: list[Failure] = []
    stride = 1 if isinstance(gateway.stores, MemoryStores) else 10
    count = len(range(0, N, stride))
    queries = query_strings(rng, N)
    statuses: dict[int, int] = {}
    sent = 0
    for i, (label, raw) in enumerate(bodies(template, rng, N)):
        if i % stride:
            continue
        target = await _target_ids(gateway, path, rng)
        headers = {**gateway.admin, "content-type": "application/json"}
        query_label, query = next(queries)
        if method == "GET":
            label, target = f"{label} {query_label}", f"{target}?{query}"
        r = await gateway.http.request(method, target, content=raw, headers=headers)
        sent += 1
        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
        failure = _check(f"{method} {target[:80]}", label, r, admin_shape, pool_503=False)
        if failure:
            failures.append(failure)
        if r.status_code == 401 and path != "/login":
            # Something the fuzz did ended the session (a password change); log in again.
            gateway.admin = {"authorization": f"Bearer {await _admin_token_again(gateway)}"}
    assert sent == count
    print(f"{method} {path} ({type(gateway.stores).__name__}): {dict(sorted(statuses.items()))}")
    assert not failures, _report(failures, sent, caplog)


async def _admin_token_again(gateway: Gateway) -> str:
    r = await gateway.http.post("/admin/api/login", json={"username": "admin", "password": ADMIN_PASSWORD + "-2"})
    assert r.status_code == 200, r.text
    return r.json()["token"]


def test_the_fuzz_covers_every_route_it_should() -> None:
    # A route added to the admin app without a template still gets fuzzed
    # (its body ignored); a template for a route that went away is a mistake.
    paths = {(m, p) for m, p in ADMIN_ROUTES}
    assert set(ADMIN_TEMPLATES) <= paths, set(ADMIN_TEMPLATES) - paths
    assert len(PROXIED) >= 12
    assert re.search(r"/gemini/v1/chat$", PROXIED[-1].path)
