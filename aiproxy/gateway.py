"""Gateway: the gateway's running parts, built from its inputs, and their lifetime.

    async with Gateway(stores, settings) as gateway:
        ...  # stores open, default admin there, pool loaded, usage writer and maintenance loops running

Building one does no I/O (a malformed price file fails here, though); entering
it opens what it uses, leaving it flushes usage and closes what it owns.
`create_app` (app.py) puts routes and middleware in front of one; a host that
mounts the gateway in its own app enters it from the host's lifespan.
"""

from __future__ import annotations

import logging
import secrets
from contextlib import AsyncExitStack, asynccontextmanager
from http.cookiejar import CookieJar, DefaultCookiePolicy
from types import TracebackType
from typing import Any, AsyncIterator, Callable, Mapping

import anyio
import httpx
from starlette.applications import Starlette

from .account_test import test_account
from .accounts import ACCOUNT_TYPES, AccountTypes, AdapterDeps
from .adapters.base import Adapter
from .admin.context import AdminContext
from .bridging import bridged_types
from .model_limits import OutputCaps
from .oauth.flows import OAuthFlows
from .oauth.shared_lock import StoreRefreshLock
from .oauth.tokens import TokenManager
from .pricing import PriceTable
from .relay import Relay
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
from .state import Invalidation, ResilientState, SharedState, invalidation_for, state_from_url
from .state.invalidation import Changes
from .stores.entities import UsageRecord, User
from .stores.key_cache import KeyCache
from .stores.key_first_use import KeyFirstUse
from .stores.protocols import Stores
from .upstream_proxy import ProxyRoutingTransport
from .usage.metrics import Metrics
from .usage.writer import UsageWriter

log = logging.getLogger("aiproxy")

# How a host replaces the adapter set: given what adapters are built from (the
# shared client, the settings, the OAuth token manager), the adapter of each
# account type's name. The default is the account types' own declarations.
AdapterFactory = Callable[[AdapterDeps], Mapping[str, Adapter]]


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


class Gateway:
    """The running parts of one gateway, and their lifetime (an async context manager).

    `stores` are opened on entry and closed on exit. Upstream requests go
    through `http_client` if given (its owner closes it), else through a
    client built here on `transport` (tests pass httpx.MockTransport or
    aiproxy.testing's fakes), else on the fastest installed transport.
    Accounts' outbound proxies are applied by the client built here; an
    `http_client` of the caller's own applies them only if it is built on
    `ProxyRoutingTransport(...)`. Account health, concurrency slots, sticky
    bindings and pending OAuth logins live in `state` if given (its owner
    closes it), else in Redis when `settings.redis_url` is set, else in this
    process's memory. On Redis, the admin API's changes are also told to the
    other instances on it (`invalidation`), and theirs applied here.
    `account_types` are the kinds of upstream account served (a host adds its
    own with `ACCOUNT_TYPES.plus(...)`); `adapters` replaces how their
    adapters are built (`AdapterFactory`).
    """

    settings: Settings
    stores: Stores
    account_types: AccountTypes
    client: httpx.AsyncClient
    state: SharedState
    quota_state: SharedState  # `state`, or its strict view under failure mode `closed`
    invalidation: Invalidation | None  # change notices between instances on the state's Redis; None: one process
    slot_lease: float  # seconds a concurrency slot is held should its holder die
    cipher: CredentialCipher
    tokens: TokenIssuer
    pool: AccountPool
    keys: KeyCache
    first_use: KeyFirstUse
    usage_writer: UsageWriter
    prices: PriceTable
    output_caps: OutputCaps
    metrics: Metrics
    oauth_flows: OAuthFlows
    oauth_tokens: TokenManager
    adapters: Mapping[str, Adapter]
    scheduler: Scheduler
    relay: Relay
    record_usage: Callable[[UsageRecord], None]  # the usage middleware's sink

    def __init__(
        self,
        stores: Stores,
        settings: Settings | None = None,
        *,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        state: SharedState | None = None,
        account_types: AccountTypes = ACCOUNT_TYPES,
        adapters: AdapterFactory | None = None,
    ) -> None:
        self.settings = settings = settings or Settings()
        self.stores = stores
        self.account_types = account_types
        self._owns_client = http_client is None
        self._owns_state = state is None
        self._running: AsyncExitStack | None = None

        if settings.encryption_key is None:
            log.warning("no encryption key given: stored credentials will be unreadable after a restart")
        self.cipher = CredentialCipher(settings.encryption_key or CredentialCipher.generate_key())
        # Admin sessions' JWTs; a generated secret ends every session at a restart.
        self.tokens = TokenIssuer(settings.jwt_secret or secrets.token_urlsafe(48), settings.jwt_ttl_seconds)
        self.client = http_client or self._build_client(transport)
        self.pool = AccountPool(stores.accounts, self.cipher)
        self.keys = self._build_key_cache()
        self.first_use = KeyFirstUse(stores.keys, self.keys.invalidate)
        self.usage_writer = self._build_usage_writer()
        # List prices, read once: a malformed price file fails here (PriceFileError).
        self.prices = PriceTable.load(settings.prices_file)
        # Models' output caps, read once: a malformed caps file fails here (OutputCapsFileError).
        self.output_caps = OutputCaps.load(settings.output_caps_file)
        # Prometheus counters of this process (GET /metrics), fed by every usage record.
        self.metrics = Metrics()
        self.record_usage = _usage_sink(self.usage_writer, self.metrics)
        # Before OAuth: pending logins are kept in the state.
        self._build_state(state)
        self.invalidation = invalidation_for(self.state)
        self._build_oauth()
        self.adapters = self._build_adapters(adapters)
        self.scheduler = Scheduler(
            self.pool,
            self.state,
            sticky_ttl=settings.sticky_ttl_seconds,
            response_ttl=settings.response_account_ttl_seconds,
            # A concurrency slot comes back by itself after this, should its holder die.
            slot_lease=self.slot_lease,
        )
        self.relay = self._build_relay()

    # -- the parts, built in order ------------------------------------------

    def _build_client(self, transport: httpx.AsyncBaseTransport | None) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            # Each request goes through its account's proxy, if it has one (upstream_proxy).
            transport=ProxyRoutingTransport(transport or default_transport(self.settings)),
            timeout=httpx.Timeout(self.settings.read_timeout, connect=self.settings.connect_timeout),
            # One client serves every account and user: a cookie one upstream
            # answer sets must never ride along on another's request.
            cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
        )

    def _build_key_cache(self) -> KeyCache:
        settings = self.settings
        return KeyCache(
            self.stores.keys,
            self.stores.users,
            ttl=settings.key_cache_ttl,
            negative_ttl=settings.key_cache_negative_ttl,
            stale_seconds=settings.key_cache_stale_seconds,
            timeout=settings.key_lookup_timeout_seconds,
        )

    def _build_usage_writer(self) -> UsageWriter:
        settings = self.settings
        return UsageWriter(
            self.stores.usage,
            batch_size=settings.usage_batch_size,
            flush_seconds=settings.usage_flush_seconds,
            max_buffered=settings.usage_buffer_records,
            spool_dir=settings.usage_spool_dir,
            backoff_initial=settings.usage_backoff_initial_seconds,
            backoff_max=settings.usage_backoff_max_seconds,
            shutdown_seconds=settings.usage_shutdown_seconds,
        )

    def _build_oauth(self) -> None:
        # OAuth (subscription) accounts: pending logins for the admin API, and
        # access tokens kept fresh for the adapters.
        settings, stores, cipher = self.settings, self.stores, self.cipher
        accounts_changed = self._accounts_changed
        providers = self.account_types.oauth_providers(settings.oauth)
        # Pending logins in the shared state, sealed: any instance on it finishes one.
        self.oauth_flows = OAuthFlows(
            providers, self.client, logins=self.state, cipher=cipher, ttl=settings.oauth.session_ttl_seconds
        )

        async def save_credentials(account_id: int, credentials: dict[str, Any]) -> None:
            # How refreshed tokens are kept: encrypted into the store, then the pool
            # re-reads (other instances' pools too, told). Runs only when a token
            # was refreshed (rarely), so the request that triggered it waits on
            # the store just this once.
            account = await stores.accounts.get(account_id)
            if account is None:
                return  # deleted while its token was refreshed
            account.credentials = cipher.encrypt(credentials)
            await stores.accounts.update(account)
            await accounts_changed()

        async def stored_credentials(account_id: int) -> dict[str, Any] | None:
            account = await stores.accounts.get(account_id)
            return cipher.decrypt(account.credentials) if account is not None else None

        self.oauth_tokens = TokenManager(
            providers,
            self.client,
            save_credentials,
            skew=settings.oauth.refresh_skew_seconds,
            # One refresh per account across every worker and instance on this store.
            shared=StoreRefreshLock(stores.leases, stored_credentials),
        )

    def _build_adapters(self, factory: AdapterFactory | None) -> Mapping[str, Adapter]:
        # The one place adapters are built: one per account type, as its
        # declaration says, unless the host handed its own factory.
        deps = AdapterDeps(self.client, self.settings, self.oauth_tokens)
        return (factory or self.account_types.adapters)(deps)

    def _build_state(self, state: SharedState | None) -> None:
        settings = self.settings
        # Slots not renewed while held (memory) must outlast any request; Redis
        # renews the slots this process holds, so its leases are seconds long.
        long_lease = settings.read_timeout * 3
        self.state = (
            state
            if state is not None
            else state_from_url(
                settings.redis_url,
                timeout=settings.redis_timeout_seconds,
                cooldown=settings.redis_cooldown_seconds,
                local_lease=long_lease,
            )
        )
        self.slot_lease = (
            settings.slot_lease_seconds if getattr(self.state, "renews_leases", False) else long_lease
        )
        # Failure mode `closed`: quota-limited keys are checked on a view of the
        # state that refuses (503) while Redis is unreachable, instead of counting
        # per process.
        self.quota_state = (
            self.state.strict()
            if settings.redis_failure_mode == "closed" and isinstance(self.state, ResilientState)
            else self.state
        )

    def _build_relay(self) -> Relay:
        # The one place the Relay is built: its arguments change with the relay.
        settings, metrics, types = self.settings, self.metrics, self.account_types
        return Relay(
            self.scheduler,
            self.pool,
            self.adapters,
            max_request_bytes=settings.max_request_bytes,
            failover_attempts=settings.failover_attempts,
            fault_defaults=FaultDefaults(
                rate_limit_rest=settings.rate_limit_rest_seconds,
                overload_cooldown=settings.overload_cooldown_seconds,
                transport_cooldown=settings.transport_cooldown_seconds,
            ),
            on_fault=lambda platform, account_id, fault: metrics.observe_fault(platform, account_id, fault.kind),
            limited_paths=types.limited_paths(),
            model_prefixes=ModelPrefixes(types.model_prefixes()),
            bridged=bridged_types(types),
            output_caps=self.output_caps,
        )

    # -- change hooks: applied here, then told to the other instances -------

    def _key_changed(self, key_hash: str) -> None:
        self.keys.invalidate(key_hash)
        if self.invalidation is not None:
            self.invalidation.key_changed(key_hash)

    async def _accounts_changed(self) -> None:
        try:
            await self.pool.reload()
        finally:
            # The store changed even if this re-read failed: the others re-read too.
            if self.invalidation is not None:
                self.invalidation.accounts_changed()

    def _changes(self) -> Changes:
        # What another instance's notice does here.
        return Changes(
            key_changed=self.keys.invalidate, keys_missed=self.keys.refresh_all, accounts_changed=self.pool.reload
        )

    def admin_context(self) -> AdminContext:
        """What the admin API works with: the stores, secrets, and the change hooks into the running parts."""
        settings = self.settings
        return AdminContext(
            stores=self.stores,
            cipher=self.cipher,
            tokens=self.tokens,
            keys_changed=self._key_changed,
            accounts_changed=self._accounts_changed,
            oauth=self.oauth_flows,
            test_account=self.probe,
            monitor=self.scheduler,
            login_throttle=LoginThrottle(
                free_failures=settings.login_free_failures,
                max_delay=settings.login_max_delay_seconds,
                window=settings.login_failure_window_seconds,
            ),
            passwords=PasswordHashing(settings.password_hash_concurrency, settings.password_hash_wait_seconds),
            account_types=self.account_types,
            upstream=settings.upstream,
        )

    async def probe(self, account_id: int) -> dict[str, Any]:
        """One test request to an account (the admin's test, the periodic recheck)."""
        return await test_account(self.pool, self.adapters, account_id, self.account_types)

    # -- the lifetime -------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._running is not None

    async def __aenter__(self) -> Gateway:
        if self._running is not None:
            raise RuntimeError("this gateway is already running")
        stack = AsyncExitStack()
        await stack.enter_async_context(self._lifetime())
        self._running = stack
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        stack, self._running = self._running, None
        assert stack is not None, "exit without entry"
        return await stack.__aexit__(exc_type, exc, tb)

    @asynccontextmanager
    async def _lifetime(self) -> AsyncIterator[None]:
        settings, stores, pool, writer = self.settings, self.stores, self.pool, self.usage_writer
        invalidation = self.invalidation
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
                    loops.start_soon(recheck_forever, self.scheduler, pool, self.probe, settings.error_recheck_seconds)
                    if invalidation is not None:
                        loops.start_soon(invalidation.run, self._changes())

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(writer.run)
                tg.start_soon(maintain_accounts)
                try:
                    yield
                finally:
                    refresh.cancel()
                    writer.stop()  # its loop writes what is buffered, then returns
                    await self.first_use.drain()
                    if invalidation is not None:
                        await invalidation.drain()
        finally:
            self.metrics.close()  # no I/O: first, so a failing close below cannot skip it
            if self._owns_state:
                await self.state.aclose()
            if self._owns_client:
                await self.client.aclose()
            await stores.close()

    @staticmethod
    def of(app: Starlette) -> Gateway:
        """The gateway behind an app `create_app` built (`app.state.gateway`, typed)."""
        gateway = getattr(app.state, "gateway", None)
        if not isinstance(gateway, Gateway):
            raise LookupError("not an app built by aiproxy.create_app")
        return gateway


def _usage_sink(writer: UsageWriter, metrics: Metrics) -> Callable[[UsageRecord], None]:
    # A closure rather than a bound method: called once per request, it reads
    # its two parts from cells, not through the gateway's attributes.
    def record_usage(record: UsageRecord) -> None:
        writer.submit(record)
        metrics.observe(record)

    return record_usage


async def ensure_default_admin(stores: Stores, settings: Settings) -> None:
    """On first start (no users at all), create the default admin, who must change the password."""
    if await stores.users.list():
        return
    try:
        await stores.users.create(
            User(
                username=settings.admin_username,
                password_hash=hash_password(settings.admin_password),
                role="admin",
                must_change_password=True,
            )
        )
    except ValueError:
        # The name exists: another worker (or instance) starting on the same
        # new database made it between our look and our insert.
        if not await stores.users.list():
            raise
        return
    log.warning(
        "created the default admin %r with the default password; it must be changed at first login",
        settings.admin_username,
    )
