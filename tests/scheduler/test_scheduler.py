"""The scheduler is the one place accounts are ordered: the pool only filters, and
the only record of last use is the shared state's (so instances share it)."""

from __future__ import annotations

from typing import Any

import pytest

from aiproxy.scheduler.pool import AccountPool
from aiproxy.scheduler.scheduler import Scheduler
from aiproxy.security.cipher import CredentialCipher
from aiproxy.state.memory import MemoryState
from aiproxy.stores.entities import Account
from aiproxy.stores.memory import MemoryAccountStore

pytestmark = pytest.mark.anyio


class CountingState(MemoryState):
    """Counts the shared-state calls a request makes (each is a round trip on Redis)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def __getattribute__(self, name: str) -> Any:
        attr = super().__getattribute__(name)
        if name in ("account_health", "last_used", "get_binding", "touch", "bind"):
            super().__getattribute__("calls").append(name)
        return attr


async def pool_of(*fields: dict[str, Any]) -> AccountPool:
    cipher = CredentialCipher(CredentialCipher.generate_key())
    store = MemoryAccountStore()
    for i, f in enumerate(fields, 1):
        f = {"platform": "claude", "type": "claude-console", **f}
        account = Account(name=f"a{i}", credentials=cipher.encrypt({"api_key": "k"}), **f)
        await store.create(account)
    pool = AccountPool(store, cipher)
    await pool.reload()
    return pool


def names(accounts: list[Any]) -> list[str]:
    return [a.account.name for a in accounts]


async def test_the_pool_filters_and_keeps_no_order_of_its_own() -> None:
    pool = await pool_of({"priority": 9}, {"priority": 1}, {"platform": "openai", "type": "openai"},
                         {"enabled": False}, {"models": ["other"]})
    assert names(pool.candidates("claude", "claude-sonnet-4-5", {"claude-console"})) == ["a1", "a2"]
    assert not hasattr(pool, "mark_used")


async def test_priority_then_least_recent_use_from_the_shared_state() -> None:
    pool = await pool_of({"priority": 2}, {"priority": 1}, {"priority": 1}, {"priority": 1})
    state = MemoryState()
    scheduler = Scheduler(pool, state)
    plan = await scheduler.plan("claude", None, {"claude-console"})
    assert names(plan.candidates) == ["a2", "a3", "a4", "a1"]  # never used: by id within a priority
    await scheduler.started(plan.candidates[0])
    plan = await scheduler.plan("claude", None, {"claude-console"})
    assert names(plan.candidates) == ["a3", "a4", "a2", "a1"]
    # Another instance's use, seen only in the shared state, counts the same.
    a3 = plan.candidates[0]
    await state.touch(a3.id, 10**10)
    plan = await scheduler.plan("claude", None, {"claude-console"})
    assert names(plan.candidates) == ["a4", "a2", "a3", "a1"]


async def test_a_request_costs_no_extra_state_calls() -> None:
    pool = await pool_of({}, {})
    state = CountingState()
    scheduler = Scheduler(pool, state)
    plan = await scheduler.plan("claude", None, {"claude-console"})
    await scheduler.started(plan.candidates[0])
    assert state.calls == ["account_health", "last_used", "touch"]
    state.calls.clear()
    plan = await scheduler.plan("claude", None, {"claude-console"}, session="s")
    assert state.calls == ["account_health", "last_used", "get_binding"]
