"""create_app(): the one place where the gateway's parts are wired together."""

from __future__ import annotations

import logging
import secrets
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any, AsyncIterator, Mapping

import anyio
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, request_response
from starlette.types import ASGIApp

from .account_test import test_account
from .accounts import ACCOUNT_TYPES, AccountTypes, AdapterDeps
from .adapters.base import Adapter
from .admin.api import create_admin_app
from .admin.context import AdminContext
from .console import console_app
from .errors import error_body_for_path
from .formats.dialect import ANTHROPIC, GEMINI, OPENAI, Dialect
from .middleware import (
    ErrorShieldMiddleware,
    HeadLimitMiddleware,
    KeyAuthMiddleware,
    PermissionMiddleware,
    QuotaMiddleware,
    UsageMiddleware,
)
from .oauth.flows import OAuthFlows
from .oauth.shared_lock import StoreRefreshLock
from .oauth.tokens import TokenManager
from .pricing import PriceTable
from .relay import Relay
from .routes.claude import claude_router
from .routes.gemini import gemini_chat_routes, gemini_router
from .routes.key_usage import KeyUsageEndpoint
from .routes.openai import openai_router, responses_routes
from .scheduler.faults import FaultDefaults
from .scheduler.model_prefix import ModelPrefixes
from .scheduler.pool import AccountPool
from .scheduler.recheck import recheck_forever
from .scheduler.scheduler import Scheduler
from .security.cipher import CredentialCipher
from .security.login_throttle import LoginThrottle
from .security.passwords import PasswordHashing, hash_password
from .security.tokens import TokenIssuer
from .settings import Settings
from .state import ResilientState, SharedState, state_from_url, state_status
from .stores.entities import UsageRecord, User
from .stores.key_cache import KeyCache
from .stores.key_first_use import KeyFirstUse
from .stores.protocols import Stores
from .upstream_proxy import ProxyRoutingTransport
from .usage.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from .usage.metrics import Metrics
from .usage.writer import UsageWriter

log = logging.getLogger("aiproxy")


@dataclass
class Gateway:
    """The running parts, reachable as `app.state.gateway` (for tests and embedding hosts)."""

    settings: Settings
    stores: Stores
    pool: AccountPool
    keys: KeyCache
    usage_writer: UsageWriter
    client: httpx.AsyncClient
    scheduler: Scheduler
    state: SharedState
    adapters: Mapping[str, Adapter]


def default_transport(settings: Settings) -> httpx.AsyncBaseTransport:
    """The fastest upstream transport installed.

    httpx's own transport is about a third as fast as httpx-aiohttp's under
    load (see bench/); both speak the same httpx API, so adapters don't care.
    """
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=200)
    try:
        from httpx_aiohttp import AiohttpTransport
    except ImportError:
        return httpx.AsyncHTTPTransport(limits=limits)
    return AiohttpTransport(limits=limits)


def create_app(
    stores: Stores,
    settings: Settings | None = None,
    *,
    http_client: httpx.AsyncClient | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    state: SharedState | None = None,
    account_types: AccountTypes = ACCOUNT_TYPES,
) -> Starlette:
    """Build the gateway as an ASGI app.

    `stores` are opened at startup and closed at shutdown. Upstream requests
    go through `http_client` if given (its owner closes it), else through a
    client built on `transport` (tests pass httpx.MockTransport), else on the
    fastest installed transport. Accounts' outbound proxies are applied by the
    client built here; an `http_client` of the caller's own applies them only
    if it is built on `upstream_proxy.ProxyRoutingTransport(...)`. Account
    health, concurrency slots and sticky bindings live in `state` if given (its
    owner closes it), else in Redis when `settings.redis_url` is set, else in
    this process's memory. `account_types` are the kinds of upstream account
    served (aiproxy/accounts/registry.py; a host adds its own with
    `ACCOUNT_TYPES.plus(...)`).
    """
    settings = settings or Settings()
    if settings.encryption_key is None:
        log.warning("no encryption key given: stored credentials will be unreadable after a restart")
    cipher = CredentialCipher(settings.encryption_key or CredentialCipher.generate_key())
    tokens = TokenIssuer(settings.jwt_secret or secrets.token_urlsafe(48), settings.jwt_ttl_seconds)

    owns_client = http_client is None
    client = http_client or httpx.AsyncClient(
        # Each request goes through its account's proxy, if it has one (upstream_proxy).
        transport=ProxyRoutingTransport(transport or default_transport(settings)),
        timeout=httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout),
        # One client serves every account and user: a cookie one upstream
        # answer sets must never ride along on another's request.
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
    )
    pool = AccountPool(stores.accounts, cipher)
    keys = KeyCache(
        stores.keys,
        stores.users,
        ttl=settings.key_cache_ttl,
        negative_ttl=settings.key_cache_negative_ttl,
        stale_seconds=settings.key_cache_stale_seconds,
        timeout=settings.key_lookup_timeout_seconds,
    )
    first_use = KeyFirstUse(stores.keys, keys.invalidate)
    writer = UsageWriter(
        stores.usage,
        batch_size=settings.usage_batch_size,
        flush_seconds=settings.usage_flush_seconds,
        max_buffered=settings.usage_buffer_records,
        spool_dir=settings.usage_spool_dir,
        backoff_initial=settings.usage_backoff_initial_seconds,
        backoff_max=settings.usage_backoff_max_seconds,
        shutdown_seconds=settings.usage_shutdown_seconds,
    )
    # List prices, read once: a malformed price file fails here (PriceFileError).
    prices = PriceTable.load(settings.prices_file)
    # Prometheus counters of this process (GET /metrics), fed by every usage record.
    metrics = Metrics()

    def record_usage(record: UsageRecord) -> None:
        writer.submit(record)
        metrics.observe(record)

    # OAuth (subscription) accounts: pending logins for the admin API, and
    # access tokens kept fresh for the adapters.
    providers = account_types.oauth_providers(settings.oauth)
    flows = OAuthFlows(providers, client, ttl=settings.oauth.session_ttl_seconds)

    async def save_credentials(account_id: int, credentials: dict[str, Any]) -> None:
        # How refreshed tokens are kept: encrypted into the store, then the pool
        # re-reads. Runs only when a token was refreshed (rarely), so the
        # request that triggered it waits on the store just this once.
        account = await stores.accounts.get(account_id)
        if account is None:
            return  # deleted while its token was refreshed
        account.credentials = cipher.encrypt(credentials)
        await stores.accounts.update(account)
        await pool.reload()

    async def stored_credentials(account_id: int) -> dict[str, Any] | None:
        account = await stores.accounts.get(account_id)
        return cipher.decrypt(account.credentials) if account is not None else None

    oauth_tokens = TokenManager(
        providers,
        client,
        save_credentials,
        skew=settings.oauth.refresh_skew_seconds,
        # One refresh per account across every worker and instance on this store.
        shared=StoreRefreshLock(stores.leases, stored_credentials),
    )

    # One adapter per account type, built as its declaration says.
    adapters = account_types.adapters(AdapterDeps(client, settings, oauth_tokens))
    owns_state = state is None
    # Slots not renewed while held (memory) must outlast any request; Redis
    # renews the slots this process holds, so its leases are seconds long.
    long_lease = settings.read_timeout * 3
    shared_state = (
        state
        if state is not None
        else state_from_url(
            settings.redis_url,
            timeout=settings.redis_timeout_seconds,
            cooldown=settings.redis_cooldown_seconds,
            local_lease=long_lease,
        )
    )
    slot_lease = settings.slot_lease_seconds if getattr(shared_state, "renews_leases", False) else long_lease
    # Failure mode `closed`: quota-limited keys are checked on a view of the
    # state that refuses (503) while Redis is unreachable, instead of counting
    # per process.
    quota_state = (
        shared_state.strict()
        if settings.redis_failure_mode == "closed" and isinstance(shared_state, ResilientState)
        else shared_state
    )
    scheduler = Scheduler(
        pool,
        shared_state,
        sticky_ttl=settings.sticky_ttl_seconds,
        # A concurrency slot comes back by itself after this, should its holder die.
        slot_lease=slot_lease,
    )
    relay = Relay(
        scheduler,
        pool,
        adapters,
        max_request_bytes=settings.max_request_bytes,
        failover_attempts=settings.failover_attempts,
        fault_defaults=FaultDefaults(
            rate_limit_rest=settings.rate_limit_rest_seconds,
            overload_cooldown=settings.overload_cooldown_seconds,
            transport_cooldown=settings.transport_cooldown_seconds,
        ),
        on_fault=lambda platform, account_id, fault: metrics.observe_fault(platform, account_id, fault.kind),
        limited_paths=account_types.limited_paths(),
        model_prefixes=ModelPrefixes(account_types.model_prefixes()),
    )

    def proxied(router: ASGIApp, platform: str, dialect: Dialect) -> ASGIApp:
        # Innermost first: the usage middleware sits right around the routes.
        app: ASGIApp = UsageMiddleware(router, platform=platform, sink=record_usage, price=prices.cost)
        # Outside the usage middleware, so it sees each request's finished record.
        app = QuotaMiddleware(
            app,
            dialect=dialect,
            state=shared_state,
            quota_state=quota_state,
            slot_lease=slot_lease,
            first_use=first_use.first_use,
        )
        app = PermissionMiddleware(
            app, platform=platform, dialect=dialect, max_request_bytes=settings.max_request_bytes
        )
        app = KeyAuthMiddleware(app, lookup=keys.lookup, dialect=dialect)
        return bounded_head(ErrorShieldMiddleware(app, dialect=dialect), dialect)

    def bounded_head(app: ASGIApp, dialect: Dialect) -> ASGIApp:
        # Outermost: a head over the bounds is refused before anything reads its headers.
        return HeadLimitMiddleware(
            app, dialect=dialect, max_count=settings.max_header_count, max_bytes=settings.max_header_bytes
        )

    async def probe(account_id: int) -> dict[str, Any]:
        """One test request to an account (the admin's test, the periodic recheck)."""
        return await test_account(pool, adapters, account_id, account_types)

    admin = create_admin_app(
        AdminContext(
            stores=stores,
            cipher=cipher,
            tokens=tokens,
            keys_changed=keys.invalidate,
            accounts_changed=pool.reload,
            oauth=flows,
            test_account=probe,
            monitor=scheduler,
            login_throttle=LoginThrottle(
                free_failures=settings.login_free_failures,
                max_delay=settings.login_max_delay_seconds,
                window=settings.login_failure_window_seconds,
            ),
            passwords=PasswordHashing(settings.password_hash_concurrency, settings.password_hash_wait_seconds),
            account_types=account_types,
            upstream=settings.upstream,
        ),
        db_timeout=settings.admin_db_timeout_seconds,
    )

    async def health(request: Request) -> JSONResponse:
        # Still 200 while Redis is unreachable: the gateway serves (on
        # process-local state), and a balancer that pulled every instance
        # out over a shared Redis's outage would turn it into a full outage.
        # "status" and "state" say it for monitoring. A due probe of Redis is
        # made here, so recovery shows without traffic; while Redis is up,
        # no round trip.
        if isinstance(shared_state, ResilientState) and shared_state.degraded:
            await shared_state.check()
        status = state_status(shared_state)
        return JSONResponse(
            {"status": "degraded" if status["state"] == "degraded" else "ok", "accounts": len(pool.accounts), **status}
        )

    async def metrics_endpoint(request: Request) -> Response:
        # Not behind key auth: operators firewall it or put it behind their proxy.
        return Response(metrics.render(), media_type=METRICS_CONTENT_TYPE)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await stores.open()
        await ensure_default_admin(stores, settings)
        await pool.reload()
        refresh = anyio.CancelScope()

        async def maintain_accounts() -> None:
            # Loops that run until shutdown cancels them (unlike the usage
            # writer, which must finish its last flush).
            with refresh:
                async with anyio.create_task_group() as loops:
                    loops.start_soon(pool.refresh_forever, settings.account_refresh_seconds)
                    loops.start_soon(recheck_forever, scheduler, pool, probe, settings.error_recheck_seconds)

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(writer.run)
                tg.start_soon(maintain_accounts)
                try:
                    yield
                finally:
                    refresh.cancel()
                    writer.stop()  # its loop writes what is buffered, then returns
                    await first_use.drain()
        finally:
            if owns_state:
                await shared_state.aclose()
            if owns_client:
                await client.aclose()
            await stores.close()

    # Each platform's routes behind its own middleware stack, so every answer
    # the gateway itself gives is in that platform's API shape.
    platform_routes: list[BaseRoute] = [
        Mount("/claude", app=proxied(claude_router(relay), "claude", ANTHROPIC)),
        Mount("/openai", app=proxied(openai_router(relay), "openai", OPENAI)),
        # Codex CLI pointed at the bare host calls /responses (or /v1/responses).
        *responses_routes(relay, lambda app: proxied(app, "openai", OPENAI)),
        # /gemini/v1/chat speaks OpenAI's chat format, its errors included; listed
        # before the /gemini mount, which would otherwise take it.
        *gemini_chat_routes(
            relay, lambda app: proxied(app, "gemini", OPENAI), max_request_bytes=settings.max_request_bytes
        ),
        Mount(
            "/gemini",
            app=proxied(gemini_router(relay, max_request_bytes=settings.max_request_bytes), "gemini", GEMINI),
        ),
    ]
    # A key's own status and usage (docs/clients.md), asked with the key itself;
    # errors in OpenAI's shape. Not proxied: no permission, quota or usage record.
    key_usage: ASGIApp = request_response(KeyUsageEndpoint(shared_state, stores))
    key_usage = ErrorShieldMiddleware(KeyAuthMiddleware(key_usage, lookup=keys.lookup, dialect=OPENAI), dialect=OPENAI)
    key_usage = bounded_head(key_usage, OPENAI)

    # Paths no route matches (a newline in a path never matches a route's
    # pattern, for one) still get an answer in the API shape their prefix names.
    async def not_found(request: Request, exc: Exception) -> Response:
        return Response(error_body_for_path(request.url.path, 404, "no such route"), 404, media_type="application/json")

    app = Starlette(
        exception_handlers={404: not_found},
        routes=[
            Route("/health", health),
            Route("/api/usage", key_usage),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
            *platform_routes,
            Mount("/admin/api", app=admin),
            # The web console (prebuilt files, aiproxy/console); after the API
            # mount, which must win. /admin itself redirects to /admin/.
            Mount("/admin", app=console_app()),
        ],
        lifespan=lifespan,
    )
    app.state.gateway = Gateway(settings, stores, pool, keys, writer, client, scheduler, shared_state, adapters)
    return app


async def ensure_default_admin(stores: Stores, settings: Settings) -> None:
    """On first start (no users at all), create the default admin, who must change the password."""
    if await stores.users.list():
        return
    await stores.users.create(
        User(
            username=settings.admin_username,
            password_hash=hash_password(settings.admin_password),
            role="admin",
            must_change_password=True,
        )
    )
    log.warning(
        "created the default admin %r with the default password; it must be changed at first login",
        settings.admin_username,
    )
