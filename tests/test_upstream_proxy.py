"""Per-account outbound proxies (aiproxy.upstream_proxy): the routing transport
on its own, the gateway sending a proxied account's requests (token refreshes
included) through its proxy and a direct account's not, and real SOCKS5 and
HTTP proxies on 127.0.0.1 that the requests are seen travelling through."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

import aiproxy.upstream_proxy as upstream_proxy
from aiproxy.security.tokens import TokenIssuer
from aiproxy.upstream_proxy import ProxyRoutingTransport, account_proxy, current_proxy
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.oauth_provider import GOOD_CODE, TOKEN_HOST, FakeTokenEndpoint, HostRouter, oauth_settings
from tests.harness import Harness, start_harness
from tests.servers import running

pytestmark = pytest.mark.anyio

BODY = {"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
SOCKS = "socks5://127.0.0.1:1080"
OTHER = "http://user:secret@127.0.0.1:3128"


class Recording(httpx.AsyncBaseTransport):
    """Answers (or forwards to `inner`) and notes which proxy each request went through."""

    def __init__(self, name: str | None, seen: list[tuple[str | None, str]], inner: httpx.AsyncBaseTransport | None = None):
        self.name = name
        self.seen = seen
        self.inner = inner
        self.closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((self.name, f"{request.url.host}{request.url.path}"))
        if self.inner is not None:
            return await self.inner.handle_async_request(request)
        return httpx.Response(200, json={"via": self.name})

    async def aclose(self) -> None:
        self.closed = True


@dataclass
class Factory:
    """A transport factory that makes `Recording`s: no network, every use visible."""

    inner: httpx.AsyncBaseTransport | None = None
    made: list[str] = field(default_factory=list)
    seen: list[tuple[str | None, str]] = field(default_factory=list)
    transports: list[Recording] = field(default_factory=list)

    def __call__(self, proxy: str) -> httpx.AsyncBaseTransport:
        self.made.append(proxy)
        transport = Recording(proxy, self.seen, self.inner)
        self.transports.append(transport)
        return transport


# -- the routing transport on its own ---------------------------------------


async def test_routes_by_the_current_proxy_and_caches_per_url(anyio_backend: str):
    factory = Factory()
    default = Recording(None, factory.seen)
    async with httpx.AsyncClient(transport=ProxyRoutingTransport(default, factory)) as client:
        assert (await client.get("http://up.test/a")).json() == {"via": None}
        with account_proxy(SOCKS):
            assert current_proxy() == SOCKS
            assert (await client.get("http://up.test/b")).json() == {"via": SOCKS}
            assert (await client.get("http://up.test/c")).json() == {"via": SOCKS}
            with account_proxy(OTHER):
                assert (await client.get("http://up.test/d")).json() == {"via": OTHER}
            with account_proxy(None):  # an account without a proxy inside another's block: direct
                assert (await client.get("http://up.test/e")).json() == {"via": None}
        assert current_proxy() is None
        with account_proxy(""):  # an empty string is "no proxy" too
            assert (await client.get("http://up.test/f")).json() == {"via": None}
        with account_proxy(SOCKS):
            await client.get("http://up.test/g")
    assert factory.made == [SOCKS, OTHER]  # one transport per URL, reused
    assert factory.seen == [
        (None, "up.test/a"), (SOCKS, "up.test/b"), (SOCKS, "up.test/c"), (OTHER, "up.test/d"),
        (None, "up.test/e"), (None, "up.test/f"), (SOCKS, "up.test/g"),
    ]
    # Closing the client closed the default and every proxy transport.
    assert default.closed and all(t.closed for t in factory.transports)


async def test_the_proxy_is_task_local(anyio_backend: str):
    factory = Factory()
    transport = ProxyRoutingTransport(Recording(None, factory.seen), factory)
    async with httpx.AsyncClient(transport=transport) as client:

        async def fetch(proxy: str | None, path: str) -> str | None:
            with account_proxy(proxy):
                await asyncio.sleep(0.01)  # the other tasks set theirs meanwhile
                return (await client.get(f"http://up.test/{path}")).json()["via"]

        got = await asyncio.gather(fetch(SOCKS, "1"), fetch(None, "2"), fetch(OTHER, "3"))
        assert got == [SOCKS, None, OTHER]

        # A task started inside the block keeps that block's proxy.
        with account_proxy(SOCKS):
            task = asyncio.ensure_future(client.get("http://up.test/4"))
        assert (await task).json() == {"via": SOCKS}


async def test_an_unusable_proxy_is_an_httpx_error_with_the_password_hidden(anyio_backend: str):
    def broken(proxy: str) -> httpx.AsyncBaseTransport:
        raise ValueError("no such scheme")

    async with httpx.AsyncClient(transport=ProxyRoutingTransport(httpx.MockTransport(lambda r: httpx.Response(204)), broken)) as client:
        with account_proxy("ftp://user:hunter2@proxy.test:21"), pytest.raises(httpx.ProxyError) as caught:
            await client.get("http://up.test/")
    assert "hunter2" not in str(caught.value) and "user:***@proxy.test:21" in str(caught.value)


async def test_default_factory_builds_socks_and_http_proxy_transports(anyio_backend: str):
    # socksio is installed (httpx[socks]), so SOCKS URLs make real transports.
    for url in ("socks5://127.0.0.1:1080", "socks5h://u:p@127.0.0.1:1080", "http://127.0.0.1:3128", "https://127.0.0.1:3129"):
        transport = upstream_proxy.proxy_transport(url)
        assert isinstance(transport, httpx.AsyncHTTPTransport)
        await transport.aclose()


# -- through the gateway ---------------------------------------------------


@pytest.fixture
async def gateway(fake_anthropic: FakeAnthropic, monkeypatch: pytest.MonkeyPatch,
                  anyio_backend: str) -> AsyncIterator[tuple[Harness, Factory, FakeTokenEndpoint]]:
    """The gateway with its proxy transports replaced by recording ones that
    still reach the fakes (the Anthropic API, and a token endpoint at auth.test)."""
    tokens = FakeTokenEndpoint()
    upstream = HostRouter({TOKEN_HOST: tokens.transport()}, httpx.ASGITransport(app=fake_anthropic.app()))
    factory = Factory(inner=upstream)
    monkeypatch.setattr(upstream_proxy, "proxy_transport", factory)
    # One log for both paths, in order.
    async with start_harness(Recording(None, factory.seen, upstream), oauth=oauth_settings()) as h:
        yield h, factory, tokens


def post(h: Harness, model: str = "claude-sonnet-4-5") -> "asyncio.Future[httpx.Response]":
    return asyncio.ensure_future(h.http.post(
        "/claude/v1/messages", json={**BODY, "model": model},
        headers={"x-api-key": h.key, "anthropic-version": "2023-06-01"}))


async def test_proxied_account_goes_through_its_proxy_and_a_direct_one_does_not(gateway):
    h, factory, _ = gateway
    # The harness's account (console-1) has no proxy and serves every model;
    # this one serves only "proxied-model", through SOCKS.
    await h.add_account(name="behind-socks", models=["proxied-model"], proxy=SOCKS, priority=1)

    assert (await post(h, "proxied-model")).status_code == 200
    assert (await post(h)).status_code == 200
    assert factory.seen == [(SOCKS, "upstream.test/v1/messages"), (None, "upstream.test/v1/messages")]
    assert factory.made == [SOCKS]


async def test_a_changed_proxy_applies_to_the_next_request(gateway):
    h, factory, _ = gateway
    [account] = await h.stores.accounts.list()
    for proxy in (SOCKS, OTHER, None, SOCKS):
        account.proxy = proxy
        await h.stores.accounts.update(account)
        await h.app.state.gateway.pool.reload()  # what the admin API's change hook does
        assert (await post(h)).status_code == 200
    assert [via for via, _ in factory.seen] == [SOCKS, OTHER, None, SOCKS]
    assert factory.made == [SOCKS, OTHER]


async def test_token_refresh_goes_through_the_accounts_proxy(gateway):
    h, factory, tokens = gateway
    for account in await h.stores.accounts.list():
        assert account.id is not None
        await h.stores.accounts.delete(account.id)
    await h.add_account(
        {"access_token": "at-old", "refresh_token": "rt-old", "expires_at": int(time.time() + 60)},
        name="max-1", type="claude-official", proxy=SOCKS)
    r = await h.http.post("/claude/v1/messages", json=BODY, headers={
        "x-api-key": h.key, "anthropic-version": "2023-06-01", "anthropic-beta": "claude-code-20250219"})
    assert r.status_code == 200, r.text
    assert len(tokens.refresh_requests) == 1
    assert factory.seen == [(SOCKS, f"{TOKEN_HOST}/v1/oauth/token"), (SOCKS, "upstream.test/v1/messages")]


async def test_an_unusable_stored_proxy_answers_502(gateway, monkeypatch: pytest.MonkeyPatch):
    h, factory, _ = gateway
    [account] = await h.stores.accounts.list()
    account.proxy = "ftp://proxy.test:21"  # the admin API refuses this; a hand-edited row may not
    await h.stores.accounts.update(account)
    await h.app.state.gateway.pool.reload()

    # The real factory: httpx refuses the scheme.
    monkeypatch.setattr(upstream_proxy, "proxy_transport", lambda proxy: httpx.AsyncHTTPTransport(proxy=proxy))
    r = await post(h)
    assert r.status_code == 502, r.text
    assert "proxy" in r.json()["error"]["message"]


async def admin_headers(h: Harness) -> dict[str, str]:
    admin = next(u for u in await h.stores.users.list() if u.role == "admin")
    assert admin.id is not None
    admin.must_change_password = False
    await h.stores.users.update(admin)
    return {"Authorization": f"Bearer {TokenIssuer('test-jwt-secret').issue(admin.id, 'admin')}"}


async def test_oauth_login_and_admin_changes_use_the_accounts_proxy(gateway):
    h, factory, tokens = gateway
    headers = await admin_headers(h)
    r = await h.http.post("/admin/api/oauth/claude-official/start", headers=headers)
    assert r.status_code == 200, r.text
    state = parse_qs(urlsplit(r.json()["authorize_url"]).query)["state"][0]
    r = await h.http.post("/admin/api/oauth/claude-official/finish", headers=headers, json={
        "session_id": r.json()["session_id"], "code": f"{GOOD_CODE}#{state}", "name": "max-1",
        "proxy": SOCKS, "priority": 1})
    assert r.status_code == 201, r.text
    account_id = r.json()["id"]
    # The code exchange went through the proxy the new account names.
    assert factory.seen == [(SOCKS, f"{TOKEN_HOST}/v1/oauth/token")]
    assert tokens.requests[0]["grant_type"] == "authorization_code"

    assert (await post(h)).status_code == 200
    # Changed through the admin API: the next request goes through the new proxy.
    r = await h.http.patch(f"/admin/api/accounts/{account_id}", headers=headers, json={"proxy": OTHER})
    assert r.status_code == 200, r.text
    assert r.json()["proxy"] == "http://user:***@127.0.0.1:3128"
    assert (await post(h)).status_code == 200
    r = await h.http.patch(f"/admin/api/accounts/{account_id}", headers=headers, json={"proxy": None})
    assert r.status_code == 200, r.text
    assert (await post(h)).status_code == 200
    assert factory.seen[1:] == [(SOCKS, "upstream.test/v1/messages"), (OTHER, "upstream.test/v1/messages"),
                                (None, "upstream.test/v1/messages")]


# -- real proxies on 127.0.0.1 ---------------------------------------------


@contextlib.asynccontextmanager
async def local_proxy(kind: str, login: str = "") -> AsyncIterator[tuple[str, list[str]]]:
    """A minimal SOCKS5 server (no auth, CONNECT only; `socks5h`: the same,
    named so the client leaves name resolution to it; with a `login`
    ("user:password"), only for a client that gives it) or HTTP forward proxy
    on 127.0.0.1 that only connects to 127.0.0.1, noting each target it
    connects to; yields its URL and that list, and stops with everything it
    started when the block ends."""
    targets: list[str] = []
    pipes: set[asyncio.Task] = set()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def socks5(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> tuple[str, int]:
        version, n_methods = await reader.readexactly(2)
        assert version == 5
        methods = await reader.readexactly(n_methods)
        if login:  # RFC 1929 username/password
            assert 2 in methods
            writer.write(b"\x05\x02")
            assert (await reader.readexactly(1)) == b"\x01"
            user = await reader.readexactly((await reader.readexactly(1))[0])
            password = await reader.readexactly((await reader.readexactly(1))[0])
            ok = f"{user.decode()}:{password.decode()}" == login
            writer.write(b"\x01\x00" if ok else b"\x01\x01")
            assert ok, "wrong proxy login"
        else:
            assert 0 in methods  # "no authentication"
            writer.write(b"\x05\x00")
        version, command, _, address_type = await reader.readexactly(4)
        assert (version, command) == (5, 1)  # CONNECT
        if address_type == 1:
            host = ".".join(str(b) for b in await reader.readexactly(4))
        elif address_type == 3:
            host = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
        else:
            raise AssertionError(f"address type {address_type}")
        port = int.from_bytes(await reader.readexactly(2), "big")
        writer.write(b"\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00")  # succeeded
        return host, port

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = b""
        try:
            if kind.startswith("socks5"):
                host, port = await socks5(reader, writer)
            else:
                # A forward proxy: the request line carries the absolute URL.
                head = await reader.readuntil(b"\r\n\r\n")
                method, target, version = head.split(b"\r\n", 1)[0].split(b" ")
                url = httpx.URL(target.decode())
                host, port = url.host, url.port or 80
                # Origin form for the upstream, and one request per connection,
                # so every request is seen here.
                head = head.replace(target, url.raw_path, 1).replace(b"\r\n", b"\r\nConnection: close\r\n", 1)
            targets.append(f"{host}:{port}")
            assert host in ("127.0.0.1", "localhost"), host  # never anywhere else
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
            up_writer.write(head)
        except Exception:
            writer.close()
            raise
        for task in (asyncio.ensure_future(pipe(reader, up_writer)), asyncio.ensure_future(pipe(up_reader, writer))):
            pipes.add(task)
            task.add_done_callback(pipes.discard)

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"{kind}://{login + '@' if login else ''}127.0.0.1:{port}", targets
    finally:
        server.close()
        for task in list(pipes):
            task.cancel()
        await asyncio.wait_for(server.wait_closed(), 5)


@pytest.mark.parametrize("kind, login", [("socks5", ""), ("socks5", "alice:s3cret"), ("socks5h", ""), ("http", "")])
async def test_requests_really_travel_through_a_local_proxy(kind: str, login: str, anyio_backend: str):
    fake = FakeAnthropic()
    with running(fake.app()) as upstream:
        upstream_port = httpx.URL(upstream).port
        async with local_proxy(kind, login) as (proxy_url, targets):
            # A real transport (not a mock): the gateway's requests go over the network.
            async with start_harness(httpx.AsyncHTTPTransport()) as h:
                [direct] = await h.stores.accounts.list()
                direct.base_url = upstream
                await h.stores.accounts.update(direct)
                await h.add_account(name="proxied", base_url=upstream, models=["proxied-model"], proxy=proxy_url,
                                    priority=1)

                async def ask(model: str, stream: bool = False) -> httpx.Response:
                    return await asyncio.wait_for(h.http.post(
                        "/claude/v1/messages", json={**BODY, "model": model, "stream": stream},
                        headers={"x-api-key": h.key, "anthropic-version": "2023-06-01"}), 15)

                r = await ask("proxied-model")
                assert r.status_code == 200, r.text
                assert r.json()["content"][0]["text"] == "Hello, world!"
                assert targets == [f"127.0.0.1:{upstream_port}"]
                assert fake.requests[-1].json["model"] == "proxied-model"

                r = await ask("proxied-model", stream=True)  # a stream comes back through it too
                assert r.status_code == 200 and b"message_stop" in r.content

                r = await ask("claude-sonnet-4-5")  # the direct account: not through the proxy
                assert r.status_code == 200, r.text
                assert len(fake.requests) == 3
                assert set(targets) == {f"127.0.0.1:{upstream_port}"}
                through_proxy = len(targets)
                await ask("claude-sonnet-4-5")
                assert len(targets) == through_proxy
