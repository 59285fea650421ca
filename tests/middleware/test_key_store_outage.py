"""Key auth while the key store is down: a key the cache cannot vouch for gets a 503
in the caller's shape, not a 500 and not a 401."""

from __future__ import annotations

import httpx
import pytest

from aiproxy.formats.dialect import ANTHROPIC, GEMINI, OPENAI, Dialect
from aiproxy.middleware import ErrorShieldMiddleware, KeyAuthMiddleware
from aiproxy.stores.entities import ApiKey
from aiproxy.stores.key_cache import KeyStoreUnavailable

pytestmark = pytest.mark.anyio


async def lookup(key_hash: str) -> ApiKey | None:
    raise KeyStoreUnavailable("the key store failed: ConnectionRefusedError")


async def never_reached(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
    raise AssertionError("the request went on without a key")


@pytest.mark.parametrize(
    "dialect, shape",
    [
        (ANTHROPIC, lambda b: b["type"] == "error" and b["error"]["type"] == "overloaded_error"),
        (OPENAI, lambda b: b["error"]["type"] == "server_error"),
        (GEMINI, lambda b: b["error"]["status"] == "UNAVAILABLE"),
    ],
)
async def test_unavailable_key_store_answers_503_in_the_callers_shape(dialect: Dialect, shape) -> None:  # type: ignore[no-untyped-def]
    app = ErrorShieldMiddleware(KeyAuthMiddleware(never_reached, lookup=lookup, dialect=dialect), dialect=dialect)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        r = await c.post("/v1/messages", headers={"x-api-key": "some-key"}, json={})
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "5"
    assert shape(r.json()), r.text


async def test_a_database_failure_past_the_cache_answers_503_not_500(caplog: pytest.LogCaptureFixture) -> None:
    # E.g. a key's own usage (/api/usage), read from the store per request.
    async def reads_the_store(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        raise ConnectionRefusedError(111, "Connection refused")

    app = ErrorShieldMiddleware(reads_the_store, dialect=OPENAI)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        r = await c.get("/api/usage")
    assert r.status_code == 503 and r.headers["retry-after"] == "5"
    assert r.json()["error"]["type"] == "server_error"
    assert "Connection refused" not in r.text
    assert [rec.exc_info for rec in caplog.records] == [None]  # one line, no trace
