"""Each middleware on its own, around a tiny inner app."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.types import Receive, Scope, Send

from aiproxy.context import context
from aiproxy.formats.dialect import ANTHROPIC
from aiproxy.middleware import (
    ErrorShieldMiddleware,
    KeyAuthMiddleware,
    PermissionMiddleware,
    QuotaMiddleware,
    UsageMiddleware,
)
from aiproxy.security.api_keys import hash_api_key
from aiproxy.state import MemoryState
from aiproxy.stores.entities import ApiKey, UsageRecord, utcnow

pytestmark = pytest.mark.anyio


async def echo_key(scope: Scope, receive: Receive, send: Send) -> None:
    key = context(scope).key
    await JSONResponse({"key": key.name if key else None})(scope, receive, send)


def client(app) -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_key_auth_puts_the_key_on_state():
    keys = {hash_api_key("good"): ApiKey(user_id=1, name="mine", key_hash="", key_prefix="")}

    async def lookup(key_hash: str) -> ApiKey | None:
        return keys.get(key_hash)

    async with client(KeyAuthMiddleware(echo_key, lookup=lookup, dialect=ANTHROPIC)) as c:
        assert (await c.get("/", headers={"authorization": "Bearer good"})).json() == {"key": "mine"}
        assert (await c.get("/?key=good")).json() == {"key": "mine"}
        r = await c.get("/", headers={"authorization": "Basic good"})
        assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"


def with_key(app, key: ApiKey):  # type: ignore[no-untyped-def]
    async def set_key(scope: Scope, receive: Receive, send: Send) -> None:
        context(scope).key = key
        await app(scope, receive, send)

    return set_key


async def test_permission_and_quota_pass_and_deny():
    ok = ApiKey(user_id=1, name="ok", key_hash="", key_prefix="", models=["claude-*"])
    app = PermissionMiddleware(QuotaMiddleware(echo_key, dialect=ANTHROPIC, state=MemoryState()), platform="claude", dialect=ANTHROPIC,
                               max_request_bytes=1000)
    async with client(with_key(app, ok)) as c:
        assert (await c.post("/", json={"model": "claude-x"})).json() == {"key": "ok"}
        r = await c.post("/", json={"model": "gpt-4o"})
        assert r.status_code == 403 and "gpt-4o" in r.json()["error"]["message"]
        r = await c.post("/", content=b"x" * 2000)
        assert r.status_code == 413
    expired = ApiKey(user_id=1, name="e", key_hash="", key_prefix="", expires_at=utcnow() - timedelta(minutes=1))
    async with client(with_key(app, expired)) as c:
        r = await c.post("/", json={})
        assert r.status_code == 403 and "expired" in r.json()["error"]["message"]


async def test_usage_records_status_and_timing_even_when_the_app_fails():
    records: list[UsageRecord] = []
    key = ApiKey(user_id=7, name="k", key_hash="", key_prefix="", id=3)

    async def ok(scope: Scope, receive: Receive, send: Send) -> None:
        meter = context(scope).meter
        assert meter is not None
        meter.model = "m"
        await PlainTextResponse("hi", status_code=201)(scope, receive, send)

    async def boom(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("kaput")

    async with client(with_key(UsageMiddleware(ok, platform="claude", sink=records.append), key)) as c:
        await c.get("/x")
    async with client(with_key(UsageMiddleware(boom, platform="claude", sink=records.append), key)) as c:
        with pytest.raises(RuntimeError):
            await c.get("/y")
    first, second = records
    assert (first.status, first.model, first.user_id, first.key_id, first.platform) == (201, "m", 7, 3, "claude")
    assert first.ttfb_ms is not None and first.error is None
    assert second.status == 0 and second.error == "RuntimeError: kaput"


async def test_error_shield_answers_500_in_the_callers_shape(caplog: pytest.LogCaptureFixture):
    async def boom(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("secret detail")

    async with client(ErrorShieldMiddleware(boom, dialect=ANTHROPIC)) as c:
        r = await c.get("/")
    assert r.status_code == 500
    assert r.json() == {"type": "error", "error": {"type": "api_error", "message": "internal gateway error"}}
    assert "secret detail" not in r.text
    assert "secret detail" in caplog.text  # logged for the operator
