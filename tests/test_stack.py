"""The proxied routes' middleware: a declared list, outermost first, that a host replaces or extends."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from aiproxy import MIDDLEWARE, Gateway, Layer, Place, create_app
from aiproxy.context import context
from aiproxy.formats.dialect import ANTHROPIC
from aiproxy.middleware import (
    ErrorShieldMiddleware,
    HeadLimitMiddleware,
    KeyAuthMiddleware,
    PermissionMiddleware,
    QuotaMiddleware,
    UsageMiddleware,
)
from aiproxy.stack import KEY_USAGE_MIDDLEWARE, compose
from aiproxy.testing import FakeAnthropic, Seed, running

MESSAGE = {"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}


async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    raise AssertionError("not called")


def layers_of(app: Any) -> list[type]:
    found = []
    while app is not endpoint:
        found.append(type(app))
        app = app.app
    return found


def test_compose_wraps_in_the_declared_order() -> None:
    seed = Seed()
    gateway = Gateway.of(create_app(seed.stores, seed.settings()))
    stack = compose(endpoint, MIDDLEWARE, gateway, Place("claude", ANTHROPIC))
    assert layers_of(stack) == [HeadLimitMiddleware, ErrorShieldMiddleware, KeyAuthMiddleware,
                                PermissionMiddleware, QuotaMiddleware, UsageMiddleware]
    usage = compose(endpoint, KEY_USAGE_MIDDLEWARE, gateway, Place("", ANTHROPIC))
    assert layers_of(usage) == [HeadLimitMiddleware, ErrorShieldMiddleware, KeyAuthMiddleware]


@pytest.mark.anyio
async def test_a_host_adds_a_layer() -> None:
    seen: list[tuple[str, str | None]] = []

    def who_called(app: ASGIApp, gateway: Gateway, place: Place) -> ASGIApp:
        # Inside key auth: the caller's key is on the request's context.
        async def layer(scope: Scope, receive: Receive, send: Send) -> None:
            key = context(scope).key
            seen.append((place.platform, key.name if key else None))
            await app(scope, receive, send)

        return layer

    middleware: list[Layer] = [*MIDDLEWARE, who_called]
    seed = Seed()
    await seed.account({"api_key": "sk-ant-x"})
    key, _ = await seed.key(await seed.user(), name="host's key")
    app = create_app(seed.stores, seed.settings(), transport=FakeAnthropic().transport(), middleware=middleware)
    async with running(app) as http:
        assert (await http.post("/claude/v1/messages", json=MESSAGE, headers={"x-api-key": key})).status_code == 200
        assert (await http.post("/claude/v1/messages", json=MESSAGE, headers={"x-api-key": "ap-nope"})).status_code == 401
        assert (await http.get("/health")).status_code == 200
    assert seen == [("claude", "host's key")]  # refused outside it; /health has no stack
