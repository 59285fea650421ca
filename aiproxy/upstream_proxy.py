"""Per-account outbound proxies: every upstream request made for an account
goes through that account's `proxy` (http://, https://, socks5:// or
socks5h:// URL), or straight out when it has none.

How it works: the relay runs each upstream exchange inside
`account_proxy(account.proxy)`, which puts the proxy URL into a context
variable; the gateway's one shared httpx client is built on a
`ProxyRoutingTransport`, which reads that variable for every request it sends
and hands the request to the default transport (no proxy) or to a transport
made for that proxy URL (one per URL, kept and reused, closed with the
client).

Why a context variable: the upstream requests made for an account come from
many places that know nothing of proxies: every adapter's `send`, and the
OAuth token manager refreshing the account's access token on the way (which
even runs in a task of its own, shielded from the client's disconnect). They
all share one client, so the choice cannot be made when the client is built,
and passing a proxy argument down through each of them would change every
adapter. A context variable reaches all of them unchanged: whatever runs
inside the `with` block, however deep, sees the account's proxy.

It is asyncio-task-local: each request is served in its own task, so two
requests for different accounts running at the same time each see their own
proxy; a task started inside the block (the token refresh, the disconnect
watcher) starts with a copy of the value, so it keeps the proxy of the
account it was started for; and leaving the block restores the previous
value. Code that runs outside any block (e.g. an admin call with no account)
goes direct.

The transport is looked up per request, so a changed proxy takes effect on
the account's next request, as soon as the pool has reloaded the account.
Transports for proxy URLs no account uses any more stay in the cache until
shutdown; their idle connections expire on their own.

A caller that gives `create_app` its own `http_client` builds that client
itself: to get per-account proxies there, build it on
`ProxyRoutingTransport(<its transport>)`.
"""

from __future__ import annotations

import contextlib
import logging
from contextvars import ContextVar
from typing import Callable, Iterator
from urllib.parse import urlsplit

import httpx

log = logging.getLogger("aiproxy.proxy")

_current: ContextVar[str | None] = ContextVar("aiproxy_upstream_proxy", default=None)

TransportFactory = Callable[[str], httpx.AsyncBaseTransport]


def current_proxy() -> str | None:
    """The proxy URL of the account whose upstream exchange is running here, or None."""
    return _current.get()


@contextlib.contextmanager
def account_proxy(proxy: str | None) -> Iterator[None]:
    """Send every upstream request made inside the block through `proxy` (None or "": direct)."""
    token = _current.set(proxy or None)
    try:
        yield
    finally:
        _current.reset(token)


def proxy_transport(proxy: str) -> httpx.AsyncBaseTransport:
    """The transport for one proxy URL: httpx's own, which speaks HTTP(S)
    proxies and, with `socksio` installed (httpx[socks]), SOCKS5."""
    limits = httpx.Limits(max_connections=500, max_keepalive_connections=100)
    return httpx.AsyncHTTPTransport(proxy=proxy, limits=limits)


def masked(proxy: str) -> str:
    """The proxy URL with its password hidden, for logs and errors."""
    try:
        parts = urlsplit(proxy)
        if parts.password is None:
            return proxy
        netloc = parts.netloc.rsplit("@", 1)[1]
        return parts._replace(netloc=f"{parts.username}:***@{netloc}").geturl()
    except ValueError:
        return "<unparsable proxy URL>"


class ProxyRoutingTransport(httpx.AsyncBaseTransport):
    """Sends each request through the current account's proxy, or `default` when it has none.

    `factory` makes the transport for a proxy URL (default: `proxy_transport`,
    looked up when first needed, so tests can replace it).
    """

    def __init__(self, default: httpx.AsyncBaseTransport, factory: TransportFactory | None = None) -> None:
        self.default = default
        self._factory = factory
        self._proxied: dict[str, httpx.AsyncBaseTransport] = {}

    def transport_for(self, proxy: str | None) -> httpx.AsyncBaseTransport:
        """The transport a request made under `proxy` goes through (made and cached on first use)."""
        if not proxy:
            return self.default
        transport = self._proxied.get(proxy)
        if transport is None:
            factory = self._factory or proxy_transport
            try:
                transport = factory(proxy)
            except Exception as exc:  # a bad URL stored outside the admin API, socksio missing
                # An httpx error, so the relay answers it as an upstream
                # connection failure (502) instead of a crash.
                raise httpx.ProxyError(
                    f"the account's proxy {masked(proxy)} cannot be used: {type(exc).__name__}: {exc}"
                ) from exc
            # No await since the lookup: no other task can have made one meanwhile.
            self._proxied[proxy] = transport
            log.info("upstream requests through proxy %s", masked(proxy))
        return transport

    @property
    def proxies(self) -> list[str]:
        """The proxy URLs a transport has been made for."""
        return list(self._proxied)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.transport_for(_current.get()).handle_async_request(request)

    async def __aenter__(self) -> "ProxyRoutingTransport":
        await self.default.__aenter__()
        return self

    async def aclose(self) -> None:
        transports = [self.default, *self._proxied.values()]
        self._proxied.clear()
        for transport in transports:
            try:
                await transport.aclose()
            except Exception:
                log.exception("closing an upstream transport failed")
