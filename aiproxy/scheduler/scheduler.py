"""Which account serves a request, in which order the others are tried, and what
each outcome does to an account's standing.

For one request the scheduler reads the shared state once (health marks, last
use, the session's binding) and orders the accounts that may serve it. This is
the one place accounts are ordered: the pool only says which may serve, and the
one record of last use is the shared state's.

1. The key's own accounts first: its dedicated account or its group (and the
   shared pool after them only if the key allows falling back). A key bound to
   nothing uses the shared pool: the accounts that belong to no group.
2. Accounts marked rate-limited, overloaded or in error are left out until the
   mark lapses (or an admin resets it); so are unschedulable ones.
3. The account the conversation is bound to (sticky session) goes first, so
   the upstream's prompt cache, which lives per account, is hit. A request
   that continues a stored answer (Responses' `previous_response_id`) goes
   only to the account that made it, which alone holds its history; when
   that account cannot serve, the plan says why (`Plan.refusal`) instead of
   offering another (an id never remembered goes as any request does).
4. Then by priority (lower first); within a priority the accounts that speak
   the route's format before those reached through a translator, and then by
   least recent use when the weights are equal, else in a weighted random
   order, so over many requests each account's share follows its weight.

Accounts of other formats come in only where the route's format can be
translated into theirs (`bridged`: their ids, the relay's to say). A key's `platforms` names the account
platforms its requests may reach; and an account of the route's platform that
lists no models, which serves any name there, gives way for a name of another
platform's family when the key may reach an account of that platform
(docs/clients.md, "Which accounts serve a model").

The relay then tries them in that order, taking a concurrency slot for accounts
with `max_concurrency`, and reports each outcome here: a fault marks the account
(until the time the upstream named), a success clears a stale mark and binds the
conversation to the account that served it; the relay has the id of a stored
answer remembered (`remember_response`) for the requests that will continue it.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Collection, Iterable

from ..state.protocols import AccountHealth, SharedState
from ..stores.entities import ApiKey
from . import model_match
from .faults import Fault
from .pool import AccountPool, PoolAccount
from .status import AccountStatus


@dataclass(frozen=True)
class Refusal:
    """Why the request cannot be served as sent, answered before any account is tried."""

    status: int
    message: str
    retry_after: float | None = None  # seconds, when the account's mark says when it lapses


@dataclass
class Plan:
    """One request's candidates, best first, and why the others were left out."""

    candidates: list[PoolAccount]
    skipped: list[str] = field(default_factory=list)  # "name: rate limited until …"
    health: dict[int, AccountHealth] = field(default_factory=dict)
    session: str | None = None
    bound_account: int | None = None
    # Platforms of accounts that would have served but the key may not reach (its `platforms`).
    denied: set[str] = field(default_factory=set)
    # The stored answer the request continues, when the account that made it is
    # known: the only candidate (`holder`), or the reason it cannot be (`refusal`).
    continues: str | None = None
    holder: int | None = None
    refusal: Refusal | None = None

    def why_none(self, platform: str, model: str | None) -> str:
        if model and len(model) > 200:  # a client's name, quoted back: not a megabyte of it
            model = model[:200] + "…"
        if self.holder is not None:
            # Its one candidate could not take the request (all its slots were taken).
            return (f"the account of previous response {self.continues} cannot serve now: "
                    f"{'; '.join(self.skipped)}; retry later, or send the full input without previous_response_id")
        served = f" serves model {model}" if model else ""
        if not self.skipped:
            return f"no enabled {platform} account{served}"
        return f"no {platform} account can serve{f' model {model}' if model else ''} now: {'; '.join(self.skipped)}"


def _family_first(tiers: list[list[PoolAccount]], platform: str, model: str) -> list[list[PoolAccount]]:
    """Without the route's accounts that list no models, when `model` is of another
    platform's family and an account of that platform is among the key's.

    Such an account serves any name on its own routes (as it always has, so an
    OpenAI-compatible relay serves `deepseek-chat`); a `gpt-…` name on /claude
    goes to the OpenAI account the key may use instead of to the Claude one.
    """
    owner = model_match.family(model)
    if owner is None or owner == platform:
        return tiers
    if not any(a.account.platform == owner for tier in tiers for a in tier):
        return tiers
    return [
        [a for a in tier if a.account.platform != platform or a.account.models or a.account.model_mapping]
        for tier in tiers
    ]


def _slot_key(account_id: int) -> str:
    return f"account:{account_id}"


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Scheduler:
    def __init__(
        self,
        pool: AccountPool,
        state: SharedState,
        *,
        sticky_ttl: float = 3600.0,
        response_ttl: float = 30 * 86400.0,  # OpenAI keeps stored responses 30 days
        slot_lease: float = 1800.0,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self._pool = pool
        self._state = state
        self._sticky_ttl = sticky_ttl
        self._response_ttl = response_ttl  # 0: response ids are neither remembered nor looked up
        # A slot outlives a crashed holder by at most this. On a state that
        # renews the leases of the slots its process holds (Redis) it can be
        # seconds; on one that does not, it must outlast any stream.
        self._slot_lease = slot_lease
        self._clock = clock
        self._rng = rng or random.Random()

    async def plan(
        self,
        platform: str,
        model: str | None,
        types: Collection[str],
        *,
        key: ApiKey | None = None,
        session: str | None = None,
        bridged: Collection[int] = (),
        continues: str | None = None,
    ) -> Plan:
        """`bridged`: the ids of the accounts reached through a translator
        (AccountPool.candidates). `continues`: the stored answer the request
        continues (Responses' `previous_response_id`), whose account alone may serve it."""
        serving = self._pool.candidates(platform, model, types, bridged)
        denied: set[str] = set()
        if key is not None and key.platforms:
            denied = {a.account.platform for a in serving if a.account.platform not in key.platforms}
            if denied:
                serving = [a for a in serving if a.account.platform in key.platforms]
        tiers = self._tiers(serving, key)
        if bridged and model is not None:
            tiers = _family_first(tiers, platform, model)
        health = await self._state.account_health()
        plan = Plan(candidates=[], health=health, session=session, denied=denied)
        usable_tiers: list[list[PoolAccount]] = []
        left_out: dict[int, str] = {}  # account id → why it may not serve now
        for tier in tiers:
            usable: list[PoolAccount] = []
            for a in tier:
                mark = health.get(a.id)
                if not a.account.schedulable:
                    left_out[a.id] = "not schedulable"
                elif mark is not None and mark.state != "ok":
                    until = f" until {_iso(mark.until)}" if mark.until else " until reset"
                    left_out[a.id] = f"{mark.state.replace('_', ' ')}{until}"
                else:
                    usable.append(a)
                    continue
                plan.skipped.append(f"{a.account.name}: {left_out[a.id]}")
            usable_tiers.append(usable)
        if continues is not None and self._response_ttl > 0:
            # One read, only for a request that names a stored answer. A known
            # holder is the plan's one candidate: no order to find, so neither
            # last use nor the session's binding is read.
            holder = await self._state.response_account(continues)
            if holder is not None:
                self._pin(plan, continues, holder, usable_tiers, left_out, model)
                return plan
        ids = [a.id for tier in usable_tiers for a in tier]
        last_used = await self._state.last_used(ids) if ids else {}
        for tier in usable_tiers:
            plan.candidates.extend(self._order(tier, last_used, bridged))
        if session is not None and plan.candidates:
            bound = await self._state.get_binding(session)
            plan.bound_account = bound
            for i, a in enumerate(plan.candidates):
                if a.id == bound:
                    plan.candidates.insert(0, plan.candidates.pop(i))
                    break
        return plan

    def _pin(
        self,
        plan: Plan,
        continues: str,
        holder: int,
        usable_tiers: list[list[PoolAccount]],
        left_out: dict[int, str],
        model: str | None,
    ) -> None:
        """The plan of a request continuing `holder`'s stored answer: that account
        alone, or why it cannot serve. Never another account: it has not got
        the history, and would answer without it (or "not found")."""
        plan.continues, plan.holder = continues, holder
        for tier in usable_tiers:
            for a in tier:
                if a.id == holder:
                    plan.candidates = [a]
                    plan.skipped = []  # the others' standing is beside the point
                    return
        found = self._pool.get(holder)
        name = repr(found.account.name) if found is not None else f"#{holder} (since deleted)"
        made_by = f"previous response {continues} was made by account {name}"
        if holder in left_out or (found is not None and not found.account.enabled):
            # The key's account, which serves this model, just not now: it may come back.
            why = left_out.get(holder, "disabled")
            mark = plan.health.get(holder)
            retry = max(mark.until - self._clock(), 1.0) if mark is not None and mark.until else None
            plan.refusal = Refusal(503, f"{made_by}, which cannot serve now ({why}); retry later, "
                                        "or send the full input without previous_response_id", retry)
            return
        if found is None:
            why = "no longer exists"
        elif model is not None and not (found.serves(model) or found.serves_bridged(model)):
            why = f"does not serve model {model[:200]}"
        else:  # the key's group, dedicated account or platforms, or this route's account types
            why = "this API key or route may not use"
        plan.refusal = Refusal(400, f"{made_by}, which {why}; send the full input without previous_response_id")

    def reachable(self, key: ApiKey | None) -> list[PoolAccount]:
        """The enabled, schedulable accounts a key's requests may reach (its own
        first, as `plan` tries them; its `platforms`), by priority then id: what
        a model list is made from. Health marks do not count: they lapse."""
        accounts = [a for a in self._pool.accounts if a.account.enabled and a.account.schedulable]
        if key is not None and key.platforms:
            accounts = [a for a in accounts if a.account.platform in key.platforms]
        return [a for tier in self._tiers(accounts, key) for a in sorted(tier, key=lambda a: (a.account.priority, a.id))]

    def _tiers(self, serving: list[PoolAccount], key: ApiKey | None) -> list[list[PoolAccount]]:
        """The groups of accounts to try in turn: the key's own, then (maybe) the shared pool."""
        shared = [a for a in serving if a.account.group is None]
        if key is None or (key.account_id is None and key.group is None):
            return [shared]
        own = [
            a
            for a in serving
            if (key.account_id is not None and a.id == key.account_id)
            or (key.group is not None and a.account.group == key.group)
        ]
        if key.shared_fallback:
            return [own, [a for a in shared if a not in own]]
        return [own]

    def _order(self, accounts: list[PoolAccount], last_used: dict[int, float],
               bridged: Collection[int]) -> list[PoolAccount]:
        # Within a priority, the accounts that speak the route's format first: no translation on the way.
        by_priority: dict[tuple[int, bool], list[PoolAccount]] = {}
        for a in accounts:
            by_priority.setdefault((a.account.priority, a.id in bridged), []).append(a)
        ordered: list[PoolAccount] = []
        for priority in sorted(by_priority):
            tier = by_priority[priority]
            if len({max(a.account.weight, 1) for a in tier}) <= 1:
                tier.sort(key=lambda a: (last_used.get(a.id, 0.0), a.id))
            else:
                # Weighted order without replacement (Efraimidis-Spirakis): the
                # chance to come first is weight / total weight.
                tier.sort(key=lambda a: self._rng.random() ** (1.0 / max(a.account.weight, 1)), reverse=True)
            ordered.extend(tier)
        return ordered

    async def acquire(self, account: PoolAccount) -> str | None:
        """A concurrency slot on `account` ("" when it has no limit), or None when it is full."""
        limit = account.account.max_concurrency
        if not limit:
            return ""
        return await self._state.acquire(_slot_key(account.id), limit, self._slot_lease)

    async def release(self, account: PoolAccount, token: str | None) -> None:
        # The token names this request's slot only: releasing it twice, or
        # after its lease lapsed, cannot free another request's slot.
        if token:
            await self._state.release(_slot_key(account.id), token)

    async def started(self, account: PoolAccount) -> None:
        # The only record of last use (the LRU order reads it): shared, so
        # instances spread load over the same accounts together.
        await self._state.touch(account.id, self._clock())

    async def remember_response(self, account: PoolAccount, response_id: str) -> None:
        """Note that `account` made the stored answer `response_id` (one write,
        after the answer): a request continuing it goes there."""
        if self._response_ttl > 0:
            await self._state.remember_response(response_id, account.id, self._response_ttl)

    async def report(self, plan: Plan, account: PoolAccount, fault: Fault) -> None:
        """Record what the upstream's answer means for `account`."""
        if fault.kind == "ok":
            mark = plan.health.get(account.id)
            if mark is not None and mark.state != "ok":
                await self._state.clear_account(account.id)  # a stale mark: it served
            if plan.session is not None:
                # (Re)bind on every success, which also renews the binding's TTL.
                await self._state.bind(plan.session, account.id, self._sticky_ttl)
            return
        if fault.mark is not None:
            await self._state.mark_account(
                account.id,
                AccountHealth(state=fault.mark, until=fault.until, reason=fault.reason, updated_at=self._clock()),
            )
            await self._state.record_error(account.id, fault.reason)
            if plan.session is not None and plan.bound_account == account.id:
                await self._state.unbind(plan.session)

    # --- the admin's view (AccountMonitor) --------------------------------

    async def status(self, account_ids: Iterable[int]) -> dict[int, AccountStatus]:
        ids = list(account_ids)
        health = await self._state.account_health()
        last_used = await self._state.last_used(ids) if ids else {}
        statuses: dict[int, AccountStatus] = {}
        for account_id in ids:
            mark = health.get(account_id)
            last_error = await self._state.last_error(account_id)
            statuses[account_id] = AccountStatus(
                state=mark.state if mark else "ok",
                reason=mark.reason if mark else "",
                until=mark.until if mark else None,
                last_error=last_error.message if last_error else None,
                last_error_at=last_error.at if last_error else None,
                last_used=last_used.get(account_id),
                concurrency=await self._state.held(_slot_key(account_id)),
            )
        return statuses

    async def reset(self, account_id: int) -> None:
        await self._state.clear_account(account_id)
