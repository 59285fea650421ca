"""Gateway: built without I/O, entered it runs its parts, left it flushes usage and closes what it owns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from aiproxy import ACCOUNT_TYPES, AdapterDeps, Gateway, MemoryState, Settings, create_app
from aiproxy.adapters.base import Adapter, UpstreamCall
from aiproxy.model_limits import OutputCapsFileError
from aiproxy.stores.entities import Account, UsageRecord, User
from aiproxy.stores.protocols import UsageFilter
from aiproxy.testing import FakeAnthropic, Seed, running

pytestmark = pytest.mark.anyio
MESSAGE = {"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}


def settings(seed: Seed, **fields: Any) -> Settings:
    return seed.settings(**{"usage_flush_seconds": 0.05, **fields})


async def test_entering_opens_loads_and_leaving_flushes_and_closes() -> None:
    seed = Seed()
    await seed.account({"api_key": "sk-ant-x"})
    gateway = Gateway(seed.stores, settings(seed, usage_flush_seconds=3600), transport=FakeAnthropic().transport())
    assert gateway.pool.accounts == [] and not gateway.running  # built: nothing read yet
    async with gateway as entered:
        assert entered is gateway and gateway.running
        assert [(a.account.type, a.credentials) for a in gateway.pool.accounts] == [
            ("claude-console", {"api_key": "sk-ant-x"})  # decrypted with the seed's key
        ]
        assert [u.username for u in await seed.stores.users.list()] == ["admin"]  # the default admin
        gateway.usage_writer.submit(UsageRecord(platform="claude", endpoint="/v1/messages", model="m"))
    assert not gateway.running and gateway.client.is_closed
    found, _ = await seed.stores.usage.query(UsageFilter(), limit=10)
    assert [r.model for r in found] == ["m"]  # flushed at exit, an hour before its flush was due


async def test_what_the_caller_gave_stays_open() -> None:
    seed = Seed()
    client, state = httpx.AsyncClient(transport=FakeAnthropic().transport()), MemoryState()
    async with Gateway(seed.stores, settings(seed), http_client=client, state=state) as gateway:
        assert gateway.client is client and gateway.state is state
    assert not client.is_closed
    await client.aclose()


async def test_a_running_gateway_cannot_be_entered_again() -> None:
    seed = Seed()
    gateway = Gateway(seed.stores, settings(seed), transport=FakeAnthropic().transport())
    async with gateway:
        with pytest.raises(RuntimeError):
            await gateway.__aenter__()


def test_the_output_caps_are_read_once_from_the_packaged_table_and_the_operator_file(tmp_path: Path) -> None:
    seed = Seed()
    assert Gateway(seed.stores, settings(seed)).output_caps.max_output("gpt-4o") == 16384
    path = tmp_path / "caps.json"
    path.write_text('{"gpt-4o*": 1000}')
    assert Gateway(seed.stores, settings(seed, output_caps_file=str(path))).output_caps.max_output("gpt-4o") == 1000
    assert Settings.from_env({"AIPROXY_OUTPUT_CAPS_FILE": str(path)}).output_caps_file == str(path)
    path.write_text('{"gpt-4o*": "lots"}')  # a malformed file stops the start, naming itself
    with pytest.raises(OutputCapsFileError, match=r"caps\.json.*positive integer"):
        Gateway(seed.stores, settings(seed, output_caps_file=str(path)))


def test_of_finds_the_gateway_of_its_app() -> None:
    seed = Seed()
    app = create_app(seed.stores, settings(seed))
    assert isinstance(Gateway.of(app), Gateway) and Gateway.of(app) is app.state.gateway
    with pytest.raises(LookupError):
        Gateway.of(Starlette())


class CountingAdapter:
    """A host's adapter: here it wraps the built one and counts the calls it sends."""

    def __init__(self, inner: Adapter) -> None:
        self.inner, self.calls = inner, 0

    async def send(self, account: Account, credentials: dict[str, Any], call: UpstreamCall) -> httpx.Response:
        self.calls += 1
        return await self.inner.send(account, credentials, call)


async def test_a_host_replaces_the_adapter_set() -> None:
    seed, fake = Seed(), FakeAnthropic()
    await seed.account({"api_key": "sk-ant-x"})
    user = await seed.user()
    key, _ = await seed.key(user)
    handed: list[AdapterDeps] = []

    def adapters(deps: AdapterDeps) -> dict[str, Adapter]:
        handed.append(deps)
        built = ACCOUNT_TYPES.adapters(deps)
        return {**built, "claude-console": CountingAdapter(built["claude-console"])}

    app = create_app(seed.stores, settings(seed), transport=fake.transport(), adapters=adapters)
    gateway = Gateway.of(app)
    [deps] = handed
    assert deps.client is gateway.client and deps.tokens is gateway.oauth_tokens
    async with running(app) as http:
        r = await http.post("/claude/v1/messages", json=MESSAGE, headers={"x-api-key": key})
    assert r.status_code == 200
    counting = gateway.adapters["claude-console"]
    assert isinstance(counting, CountingAdapter) and counting.calls == 1
    assert len(fake.requests) == 1


async def test_a_default_admin_made_meanwhile_by_another_worker_is_kept() -> None:
    # Two workers start on a new database: both find no user, and the other one inserts the admin first.
    seed = Seed()
    users = seed.stores.users
    truth = users.list
    looks = 0

    async def look() -> list[User]:
        nonlocal looks
        looks += 1
        if looks == 1:
            await seed.user("admin")  # the other worker's insert, right after our look
            return []
        return await truth()

    users.list = look  # type: ignore[method-assign]
    async with Gateway(seed.stores, settings(seed), transport=FakeAnthropic().transport()):
        pass  # started: the name taken meanwhile was no error
    assert [u.username for u in await truth()] == ["admin"]
