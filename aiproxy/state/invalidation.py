"""Other instances told of a change at once: a Redis pub/sub channel beside the shared state.

A key disabled, a user's keys cut off, an account edited on one instance
applies on every other within moments, not after the key cache's TTL or the
next account poll (both stay: the backstop for a notice that was lost).
The admin API's change hooks (wired in gateway.py) apply a change here, then
`key_changed` / `accounts_changed` publish a notice from a task of its own,
so a Redis that is down costs the admin call nothing. Each gateway's
lifespan runs `run`, which applies the other instances' notices: a key's
cache entry dropped, the account pool re-read (once per burst of notices,
`debounce` seconds after the first).

Notices are JSON on the channel `<prefix>invalidate`:
`{"kind": "key", "key_hash": <the key's SHA-256>, "from": <instance>}` or
`{"kind": "accounts", "from": <instance>}`. They carry no secret: a key's
hash is what the database keeps, not the key. An instance ignores its own
notices, and kinds it does not know (a newer instance's, in a rolling upgrade).

Pub/sub keeps nothing for a subscriber that is away, so each time the
subscription starts (the first time too, and when redis-py remade its
connection underneath) what may have been missed is re-read: every cached
key is due for a refresh (served meanwhile, stale-while-revalidate) and the
pool is reloaded. While Redis is down, subscribing is retried with backoff
(one log line when it starts failing, one when it works again). A
subscription that hears nothing is pinged every `keepalive` seconds; no
answer within as long again counts as a lost connection (a frozen Redis, a
half-open TCP connection), which is then made anew.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Awaitable, Callable

import anyio

from ..backoff import backoff_delay, describe

if TYPE_CHECKING:
    # Only a type here: the client comes from RedisState, and importing the
    # gateway (which names Changes) must not load redis-py (tests/test_init.py).
    import redis.asyncio as aioredis

log = logging.getLogger("aiproxy.state")

CHANNEL = "invalidate"


@dataclass(frozen=True)
class Changes:
    """What this instance does on another instance's notice."""

    key_changed: Callable[[str], None]  # drop the cache entry of the key with this hash
    keys_missed: Callable[[], None]  # every cached key due for a re-read (after a gap)
    accounts_changed: Callable[[], Awaitable[None]]  # re-read the accounts


class SubscriptionLost(ConnectionError):
    """The subscription was not confirmed, or stopped answering pings."""


class Invalidation:
    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str,
        *,
        debounce: float = 0.05,
        keepalive: float = 10.0,
        timeout: float = 2.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        # `client` is the shared state's (its owner closes it): the subscription
        # takes one connection of its pool for as long as it lasts.
        self._redis = client
        self.channel = prefix + CHANNEL
        self.origin = secrets.token_hex(8)  # this instance, to skip its own notices
        self._debounce = debounce
        self._keepalive = keepalive
        self._timeout = timeout  # for Redis to confirm a subscription
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._jitter = jitter
        self._publishing: set[asyncio.Task[None]] = set()
        self._publish_failing = False
        self._failures = 0  # subscriptions that failed in a row
        self._gap = False  # redis-py reconnected under the subscription
        self._accounts_due: anyio.Event | None = None
        self.subscribed = False

    # --- telling the others -------------------------------------------------

    def key_changed(self, key_hash: str) -> None:
        """Publish that the key with this hash changed (its row, or its owner)."""
        self._publish({"kind": "key", "key_hash": key_hash})

    def accounts_changed(self) -> None:
        """Publish that accounts changed (created, edited, deleted, re-authorized, tokens refreshed)."""
        self._publish({"kind": "accounts"})

    def _publish(self, notice: dict[str, Any]) -> None:
        payload = json.dumps({**notice, "from": self.origin})
        task = asyncio.get_running_loop().create_task(self._send(payload))
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)

    async def _send(self, payload: str) -> None:
        try:
            await self._redis.publish(self.channel, payload)
        except Exception as exc:
            if not self._publish_failing:
                self._publish_failing = True
                log.warning(
                    "could not tell other instances of a change: %s; they see it within their key cache TTL "
                    "and account refresh interval",
                    describe(exc),
                )
            return
        if self._publish_failing:
            self._publish_failing = False
            log.warning("telling other instances of changes works again")

    async def drain(self, timeout: float = 2.0) -> None:
        """Wait, at most `timeout` seconds, for notices still being sent (at shutdown)."""
        if self._publishing:
            await asyncio.wait(set(self._publishing), timeout=timeout)

    # --- hearing the others ---------------------------------------------------

    async def run(self, changes: Changes) -> None:
        """Apply the other instances' notices until cancelled; never raises otherwise."""
        self._accounts_due = anyio.Event()
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._reload_accounts, changes.accounts_changed)
            while True:
                try:
                    await self._listen(changes)
                except Exception as exc:  # whatever it was, the gateway goes on without notices
                    self._lost(exc)
                await anyio.sleep(
                    backoff_delay(self._failures, self._backoff_initial, self._backoff_max, self._jitter())
                )

    async def _listen(self, changes: Changes) -> None:
        pubsub = self._redis.pubsub()
        connection: Any = None
        try:
            await pubsub.subscribe(self.channel)
            await self._confirmed(pubsub)
            # Called on every later connect of this connection: redis-py
            # reconnects (and resubscribes) by itself after an error, and what
            # was published meanwhile never reaches us.
            connection = pubsub.connection
            connection.register_connect_callback(self._reconnected)
            self._subscribed_now()
            self._resync(changes)
            heard, pinged = time.monotonic(), None
            while True:
                wait = (pinged if pinged is not None else heard) + self._keepalive - time.monotonic()
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=max(wait, 0.01))
                if self._gap:
                    self._gap = False
                    self._resync(changes)
                now = time.monotonic()
                if message is None:
                    if pinged is not None and now - pinged >= self._keepalive:
                        raise SubscriptionLost(f"no answer to a ping within {self._keepalive:g} s")
                    if pinged is None and now - heard >= self._keepalive:
                        await pubsub.ping()
                        pinged = now
                    continue
                heard, pinged = now, None
                if message.get("type") == "message":
                    self._apply(message.get("data"), changes)
        finally:
            self.subscribed = False
            if connection is not None:
                connection.deregister_connect_callback(self._reconnected)
            with anyio.CancelScope(shield=True), anyio.move_on_after(self._timeout):
                await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves PubSub.aclose unannotated

    async def _confirmed(self, pubsub: Any) -> None:
        # Subscribed once Redis says so: from then on no notice is missed.
        deadline = time.monotonic() + self._timeout
        while (left := deadline - time.monotonic()) > 0:
            message = await pubsub.get_message(timeout=left)
            if message is not None and message.get("type") == "subscribe":
                return
        raise SubscriptionLost(f"Redis did not confirm the subscription within {self._timeout:g} s")

    def _reconnected(self, connection: Any) -> None:
        self._gap = True

    def _apply(self, data: Any, changes: Changes) -> None:
        try:
            notice = json.loads(data)
        except (TypeError, ValueError):
            log.debug("ignored a notice that is not JSON: %r", data)
            return
        if not isinstance(notice, dict) or notice.get("from") == self.origin:
            return
        kind = notice.get("kind")
        if kind == "key" and isinstance(notice.get("key_hash"), str):
            changes.key_changed(notice["key_hash"])
        elif kind == "accounts":
            self._accounts_soon()

    def _resync(self, changes: Changes) -> None:
        changes.keys_missed()
        self._accounts_soon()

    def _accounts_soon(self) -> None:
        assert self._accounts_due is not None
        self._accounts_due.set()

    async def _reload_accounts(self, reload: Callable[[], Awaitable[None]]) -> None:
        # One re-read per burst of notices (an admin script editing fifty
        # accounts): the first notice starts a short wait, those meanwhile join
        # it, and one arriving during the re-read starts the next.
        failing = False
        while True:
            assert self._accounts_due is not None
            await self._accounts_due.wait()
            await anyio.sleep(self._debounce)
            self._accounts_due = anyio.Event()
            try:
                await reload()
            except Exception as exc:
                if not failing:
                    failing = True
                    log.warning(
                        "re-reading accounts on another instance's notice failed: %s; the periodic re-read "
                        "catches up", describe(exc),
                    )
                continue
            failing = False

    def _subscribed_now(self) -> None:
        if self._failures:
            log.warning("notices from other instances are heard again")
        self._failures = 0
        self.subscribed = True

    def _lost(self, exc: BaseException) -> None:
        self._failures += 1
        if self._failures == 1:
            log.warning(
                "not hearing other instances' changes: %s; retrying with backoff, and meanwhile their changes "
                "are seen within the key cache TTL and the account refresh interval",
                describe(exc),
            )
