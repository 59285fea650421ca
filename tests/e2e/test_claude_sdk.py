"""End to end: a real uvicorn server, the official anthropic SDK, a fake upstream on its own server.

The gateway is built exactly as `python server.py` builds it (server.build_app),
on SQLite and on MariaDB, set up through the admin API as an operator would,
then restarted to show that everything it was told survives.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import AsyncIterator

import anthropic
import anyio
import httpx
import pytest

from aiproxy import MemoryStores, create_app
from aiproxy.security.api_keys import generate_api_key, hash_api_key
from aiproxy.security.cipher import CredentialCipher
from aiproxy.settings import UpstreamURLs
from aiproxy.stores.entities import Account, ApiKey, UsageRecord
from server import build_app
from tests.dbs import database_params, fresh_database_url
from tests.fakes.anthropic_upstream import FakeAnthropic, stream_events
from tests.harness import ENCRYPTION_KEY, gateway_settings, seed_user
from tests.servers import running

pytestmark = pytest.mark.anyio

UPSTREAM_KEY = "sk-ant-e2e-upstream-key"
NEW_PASSWORD = "a-much-better-password"
ASK = dict(model="claude-sonnet-4-6", max_tokens=64, messages=[{"role": "user", "content": "hi"}])


@pytest.fixture(params=database_params())
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async with fresh_database_url(request.param, tmp_path) as url:
        yield url


async def set_up_through_admin_api(gw: str) -> str:
    async with httpx.AsyncClient(base_url=gw + "/admin/api") as admin:
        r = await admin.post("/login", json={"username": "admin", "password": "admin123"})
        assert r.status_code == 200 and r.json()["must_change_password"] is True
        auth = {"authorization": f"Bearer {r.json()['token']}"}
        r = await admin.get("/accounts", headers=auth)
        assert r.status_code == 403 and "password" in r.json()["error"]["message"]
        r = await admin.post("/password", json={"old_password": "admin123", "new_password": NEW_PASSWORD}, headers=auth)
        assert r.status_code == 200
        auth = {"authorization": f"Bearer {r.json()['token']}"}  # the change ended the old session
        r = await admin.post("/accounts", headers=auth, json={
            "name": "console", "platform": "claude", "type": "claude-console",
            "credentials": {"api_key": UPSTREAM_KEY}, "priority": 10,
        })
        assert r.status_code == 201, r.text
        assert UPSTREAM_KEY not in r.text
        r = await admin.post("/keys", headers=auth, json={"name": "e2e"})
        assert r.status_code == 201, r.text
        return r.json()["key"]


async def test_anthropic_sdk_through_gateway_survives_restart(database_url: str, tmp_path: Path):
    fake = FakeAnthropic()
    env = {
        "DATABASE_URL": database_url,
        "AIPROXY_DATA_DIR": str(tmp_path / "data"),
        # Usage is written only at shutdown here: its presence after the
        # restart shows the shutdown flush.
        "AIPROXY_USAGE_FLUSH_SECONDS": "3600",
    }
    with running(fake.app()) as upstream:
        env["AIPROXY_ANTHROPIC_BASE_URL"] = upstream
        app, _ = build_app(env)
        with running(app) as gw:
            key = await set_up_through_admin_api(gw)
            async with anthropic.AsyncAnthropic(api_key=key, base_url=gw + "/claude", max_retries=0) as client:
                message = await client.messages.create(**ASK)
                async with client.messages.stream(**ASK) as stream:
                    text = "".join([t async for t in stream.text_stream])
                    final = await stream.get_final_message()
                sdk_version_header = client.default_headers["anthropic-version"]
            assert message.content[0].text == "Hello, world!"
            assert (message.usage.input_tokens, message.usage.output_tokens) == (12, 7)
            assert text == "Hello, world!"
            assert final.usage.cache_read_input_tokens == 200 and final.usage.output_tokens == 7

        assert len(fake.requests) == 2
        for seen in fake.requests:
            assert seen.path == "/v1/messages"
            assert seen.headers["x-api-key"] == UPSTREAM_KEY
            assert seen.headers["anthropic-version"] == sdk_version_header
            assert seen.headers["user-agent"].startswith("AsyncAnthropic/Python")
            assert key not in str(seen.headers) and "authorization" not in seen.headers
        assert [s.json.get("stream", False) for s in fake.requests] == [False, True]

        # A new process on the same database and data directory.
        app, _ = build_app(env)
        with running(app) as gw:
            async with httpx.AsyncClient(base_url=gw + "/admin/api") as admin:
                r = await admin.post("/login", json={"username": "admin", "password": "admin123"})
                assert r.status_code == 401
                r = await admin.post("/login", json={"username": "admin", "password": NEW_PASSWORD})
                assert r.status_code == 200 and r.json()["must_change_password"] is False
                auth = {"authorization": f"Bearer {r.json()['token']}"}
                assert [a["name"] for a in (await admin.get("/accounts", headers=auth)).json()["accounts"]] == ["console"]
                assert [k["name"] for k in (await admin.get("/keys", headers=auth)).json()["keys"]] == ["e2e"]
                records = (await admin.get("/usage/records", headers=auth)).json()["records"]
                assert sorted((r["stream"], r["input_tokens"], r["output_tokens"], r["cache_creation_tokens"],
                               r["cache_read_tokens"], r["status"]) for r in records) == [
                    (False, 12, 7, 100, 200, 200), (True, 12, 7, 100, 200, 200)]

            # The stored credentials still decrypt, and the old key still works.
            async with anthropic.AsyncAnthropic(api_key=key, base_url=gw + "/claude", max_retries=0) as client:
                message = await client.messages.create(**ASK)
            assert message.content[0].text == "Hello, world!"
        assert fake.requests[-1].headers["x-api-key"] == UPSTREAM_KEY


async def test_sdk_sees_errors_in_anthropic_shape(tmp_path: Path):
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}", "AIPROXY_DATA_DIR": str(tmp_path)}
    app, _ = build_app(env)
    with running(app) as gw:
        async with anthropic.AsyncAnthropic(api_key="ap-wrong", base_url=gw + "/claude", max_retries=0) as client:
            with pytest.raises(anthropic.AuthenticationError) as caught:
                await client.messages.create(**ASK)
        assert caught.value.status_code == 401
        assert caught.value.body["error"]["type"] == "authentication_error"


async def stream_and_hang_up(fake: FakeAnthropic, marker: bytes) -> UsageRecord:
    """Stream through a real gateway to `fake`, hang up once `marker` arrived, and
    return the usage record, after checking the upstream stream was closed."""
    stores = MemoryStores()
    user = await seed_user(stores)
    key = generate_api_key()
    await stores.keys.create(ApiKey(user_id=user.id, name="k", key_hash=hash_api_key(key), key_prefix=key[:8]))
    await stores.accounts.create(Account(name="c", platform="claude", type="claude-console",
                                         credentials=CredentialCipher(ENCRYPTION_KEY).encrypt({"api_key": "x"})))
    with running(fake.app()) as upstream:
        app = create_app(stores, gateway_settings(upstream=UpstreamURLs(anthropic=upstream)))
        with running(app) as gw:
            async with httpx.AsyncClient(base_url=gw) as client:
                async with client.stream("POST", "/claude/v1/messages", json={**ASK, "stream": True},
                                         headers={"x-api-key": key}) as r:
                    seen = b""
                    async for chunk in r.aiter_bytes():
                        seen += chunk
                        if marker in seen:
                            break  # leaving the block closes the connection
            assert await anyio.to_thread.run_sync(fake.stream_closed.wait, 10), "upstream stream was never closed"
            deadline = time.monotonic() + 10
            while not stores.usage.records and time.monotonic() < deadline:
                await anyio.sleep(0.05)
    [record] = stores.usage.records
    return record


async def test_client_disconnect_closes_upstream_and_records_what_was_seen():
    # The upstream sends message_start, content_block_start, ping and one text
    # delta, then stalls forever: only the client's disconnect can end it.
    record = await stream_and_hang_up(FakeAnthropic(stall_after=4), b"text_delta")
    assert record.stream is True and record.status == 200
    assert record.error == "client disconnected"
    # message_start was seen, so input and cache tokens are known; output so far is 1.
    assert (record.input_tokens, record.cache_creation_tokens, record.cache_read_tokens) == (12, 100, 200)
    assert record.output_tokens == 1


async def test_client_hanging_up_after_the_last_event_is_not_a_disconnect():
    # Codex closes its connection as soon as it has response.completed; the
    # same holds for a client that stops reading after message_stop while the
    # upstream has not yet closed its stream.
    fake = FakeAnthropic(stall_after=len(stream_events("m")))  # every event, then stall
    record = await stream_and_hang_up(fake, b"message_stop")
    assert record.error is None and record.status == 200
    assert (record.input_tokens, record.output_tokens) == (12, 7)
