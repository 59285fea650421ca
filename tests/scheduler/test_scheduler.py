"""The scheduler is the one place accounts are ordered: the pool only filters, and
the only record of last use is the shared state's (so instances share it)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from aiproxy.scheduler.pool import AccountPool
from aiproxy.scheduler.scheduler import Refusal, Scheduler
from aiproxy.security.cipher import CredentialCipher
from aiproxy.state.memory import MemoryState
from aiproxy.state.protocols import AccountHealth
from aiproxy.stores.entities import Account, ApiKey
from aiproxy.stores.memory import MemoryAccountStore

pytestmark = pytest.mark.anyio


class CountingState(MemoryState):
    """Counts the shared-state calls a request makes (each is a round trip on Redis)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def __getattribute__(self, name: str) -> Any:
        attr = super().__getattribute__(name)
        if name in ("account_health", "last_used", "get_binding", "touch", "bind", "response_account",
                    "remember_response"):
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


# --- accounts of other platforms, reached through a translator (issue 12) ----------------

BRIDGED_TYPES = frozenset({"openai", "gemini-api"})


def bridged(pool: AccountPool) -> frozenset[int]:
    # The ids the relay would hand over: accounts of the types reached through a translator.
    return frozenset(a.id for a in pool.accounts if a.account.type in BRIDGED_TYPES)
CLAUDE_TYPES = {"claude-console"}


async def test_the_pool_adds_translating_accounts_by_their_lists_or_family() -> None:
    pool = await pool_of(
        {},  # a1: Claude, no lists: any name on /claude
        {"platform": "openai", "type": "openai"},  # a2: the gpt family
        {"platform": "openai", "type": "openai", "model_mapping": {"claude-*": "gpt-5"}},  # a3
        {"platform": "gemini", "type": "gemini-api", "models": ["claude-haiku-*"]},  # a4
        {"platform": "openai", "type": "openai-responses"},  # a5: not among the bridged types
        {"models": ["claude-opus-*"]},  # a6: Claude, wildcard list
    )
    found = lambda model: names(pool.candidates("claude", model, CLAUDE_TYPES, bridged(pool)))  # noqa: E731
    assert found("claude-sonnet-4-5") == ["a1", "a3"]
    assert found("claude-haiku-4-5") == ["a1", "a3", "a4"]
    assert found("claude-opus-4-1") == ["a1", "a3", "a6"]
    assert found("gpt-4.1") == ["a1", "a2"]
    assert found("deepseek-chat") == ["a1"]
    assert found(None) == ["a1", "a6"]  # no model: no translation
    # Without bridged types, only the route's platform, as before.
    assert names(pool.candidates("claude", "gpt-4.1", CLAUDE_TYPES)) == ["a1"]


async def test_a_bridged_account_of_the_routes_platform_serves_by_its_platforms_rule() -> None:
    # An openai-responses account on the chat route: bridged (its id in the set), of the
    # route's own platform, so it serves any name when it lists none, as on its own routes.
    pool = await pool_of(
        {"platform": "openai", "type": "openai-responses"},  # a1
        {"platform": "openai", "type": "openai-responses", "models": ["gpt-5*"]},  # a2
        {"platform": "openai", "type": "openai"},  # a3: native
    )
    ids = frozenset(a.id for a in pool.accounts if a.account.type == "openai-responses")
    found = lambda model: names(pool.candidates("openai", model, {"openai"}, ids))  # noqa: E731
    assert found("gpt-5-codex") == ["a1", "a2", "a3"]
    assert found("deepseek-chat") == ["a1", "a3"]
    plan = await Scheduler(pool, MemoryState()).plan("openai", "gpt-5-codex", {"openai"}, bridged=ids)
    assert names(plan.candidates)[0] == "a3"  # the one that speaks chat goes first in its priority


async def test_native_first_within_a_priority_and_the_family_rule() -> None:
    pool = await pool_of(
        {"priority": 5},  # a1: Claude, no lists
        {"platform": "openai", "type": "openai", "priority": 5, "model_mapping": {"claude-*": "gpt-5"}},  # a2
        {"platform": "openai", "type": "openai", "priority": 1},  # a3: the gpt family, first by priority
        {"platform": "gemini", "type": "gemini-api", "priority": 5, "models": ["claude-*"]},  # a4
    )
    scheduler = Scheduler(pool, MemoryState())
    types = CLAUDE_TYPES | {"openai", "gemini-api"}
    plan = await scheduler.plan("claude", "claude-sonnet-4-5", types, bridged=bridged(pool))
    assert names(plan.candidates) == ["a1", "a2", "a4"]
    await scheduler.started(plan.candidates[0])
    plan = await scheduler.plan("claude", "claude-sonnet-4-5", types, bridged=bridged(pool))
    assert names(plan.candidates)[0] == "a1"  # even when the least recently used is another
    # A gpt name: the Claude account that lists nothing gives way to the OpenAI one.
    plan = await scheduler.plan("claude", "gpt-4.1", types, bridged=bridged(pool))
    assert names(plan.candidates) == ["a3"]
    # … unless the key may not reach OpenAI accounts: then it is served as before.
    key = ApiKey(user_id=1, name="k", key_hash="h", key_prefix="p", platforms=["claude"])
    plan = await scheduler.plan("claude", "gpt-4.1", types, key=key, bridged=bridged(pool))
    assert names(plan.candidates) == ["a1"] and plan.denied == {"openai"}


async def test_a_keys_platforms_filter_the_candidates() -> None:
    pool = await pool_of({}, {"platform": "openai", "type": "openai", "model_mapping": {"claude-*": "gpt-5"}})
    scheduler = Scheduler(pool, MemoryState())
    types = CLAUDE_TYPES | {"openai"}
    openai_only = ApiKey(user_id=1, name="k", key_hash="h", key_prefix="p", platforms=["openai"])
    plan = await scheduler.plan("claude", "claude-sonnet-4-5", types, key=openai_only, bridged=bridged(pool))
    assert names(plan.candidates) == ["a2"] and plan.denied == {"claude"}
    gemini_only = ApiKey(user_id=1, name="k", key_hash="h", key_prefix="p", platforms=["gemini"])
    plan = await scheduler.plan("claude", "claude-sonnet-4-5", types, key=gemini_only, bridged=bridged(pool))
    assert plan.candidates == [] and plan.denied == {"claude", "openai"}


# --- a request continuing a stored answer (previous_response_id, issue 13) ------------

RESPONSES = ("openai", "gpt-5", {"openai-responses"})


def responses_account(**fields: Any) -> dict[str, Any]:
    return {"platform": "openai", "type": "openai-responses", **fields}


async def test_the_account_that_made_the_response_alone_serves_its_follow_up() -> None:
    pool = await pool_of(responses_account(), responses_account(), responses_account())
    state = CountingState()
    scheduler = Scheduler(pool, state)
    plan = await scheduler.plan(*RESPONSES)
    assert names(plan.candidates) == ["a1", "a2", "a3"]
    await scheduler.remember_response(plan.candidates[2], "resp_3")
    await state.bind("conv", plan.candidates[0].id, 60)  # a sticky binding elsewhere does not win
    state.calls.clear()
    plan = await scheduler.plan(*RESPONSES, session="conv", continues="resp_3")
    assert names(plan.candidates) == ["a3"] and plan.refusal is None and plan.holder == plan.candidates[0].id
    # One read more than none, and no order to find: neither last use nor the binding is read.
    assert state.calls == ["account_health", "response_account"]


async def test_an_unknown_response_id_goes_as_any_request_does() -> None:
    pool = await pool_of(responses_account(), responses_account())
    state = CountingState()
    scheduler = Scheduler(pool, state)
    plan = await scheduler.plan(*RESPONSES, session="conv", continues="resp_never_seen")
    assert names(plan.candidates) == ["a1", "a2"] and plan.refusal is None and plan.holder is None
    assert state.calls == ["account_health", "response_account", "last_used", "get_binding"]


async def test_a_response_id_is_remembered_for_the_ttl_and_never_with_ttl_zero() -> None:
    pool = await pool_of(responses_account(), responses_account())
    state = CountingState()
    scheduler = Scheduler(pool, state, response_ttl=120)
    a2 = pool.accounts[1]
    await scheduler.remember_response(a2, "resp_1")
    assert state._responses["resp_1"][0] == a2.id
    assert state._responses["resp_1"][1] == pytest.approx(time.time() + 120, abs=5)

    off = Scheduler(pool, state, response_ttl=0)
    state.calls.clear()
    await off.remember_response(a2, "resp_2")
    plan = await off.plan(*RESPONSES, continues="resp_1")
    assert "resp_2" not in state._responses and "response_account" not in state.calls
    assert names(plan.candidates) == ["a1", "a2"]


@pytest.mark.parametrize("mark", [
    AccountHealth("rate_limited", until=10**10, reason="429"),
    AccountHealth("error", until=None, reason="401"),
])
async def test_a_holder_that_cannot_serve_now_is_a_503_not_another_account(mark: AccountHealth) -> None:
    pool = await pool_of(responses_account(), responses_account())
    state = MemoryState()
    scheduler = Scheduler(pool, state)
    a1 = pool.accounts[0]
    await scheduler.remember_response(a1, "resp_1")
    await state.mark_account(a1.id, mark)
    plan = await scheduler.plan(*RESPONSES, continues="resp_1")
    assert plan.candidates == [] and plan.refusal is not None and plan.refusal.status == 503
    assert "previous response resp_1 was made by account 'a1'" in plan.refusal.message
    assert mark.state.replace("_", " ") in plan.refusal.message
    if mark.until:
        assert plan.refusal.retry_after == pytest.approx(10**10 - time.time(), abs=5)
    else:
        assert plan.refusal.retry_after is None


async def test_unschedulable_or_disabled_holders_are_503s_too() -> None:
    pool = await pool_of(responses_account(schedulable=False), responses_account(enabled=False), responses_account())
    scheduler = Scheduler(pool, MemoryState())
    a1, a2, _ = pool.accounts
    await scheduler.remember_response(a1, "resp_1")
    await scheduler.remember_response(a2, "resp_2")
    plan = await scheduler.plan(*RESPONSES, continues="resp_1")
    assert plan.refusal == Refusal(503, "previous response resp_1 was made by account 'a1', which cannot serve now "
                                        "(not schedulable); retry later, or send the full input without "
                                        "previous_response_id")
    plan = await scheduler.plan(*RESPONSES, continues="resp_2")
    assert plan.refusal is not None and plan.refusal.status == 503 and "(disabled)" in plan.refusal.message


async def test_a_holder_this_request_can_never_reach_is_a_400() -> None:
    pool = await pool_of(responses_account(group="team-a"), responses_account(models=["gpt-4.1"]),
                         responses_account())
    scheduler = Scheduler(pool, MemoryState())
    grouped, narrow, _ = pool.accounts
    await scheduler.remember_response(grouped, "resp_g")
    await scheduler.remember_response(narrow, "resp_n")
    await scheduler._state.remember_response("resp_gone", 999, 60)

    plan = await scheduler.plan(*RESPONSES, continues="resp_g")  # a key of the shared pool
    assert plan.refusal is not None and plan.refusal.status == 400
    assert plan.refusal.message.startswith("previous response resp_g was made by account 'a1', which this API key "
                                           "or route may not use")
    plan = await scheduler.plan(*RESPONSES, continues="resp_n")
    assert plan.refusal is not None and "which does not serve model gpt-5" in plan.refusal.message
    plan = await scheduler.plan(*RESPONSES, continues="resp_gone")
    assert plan.refusal is not None and "account #999 (since deleted), which no longer exists" in plan.refusal.message
    # A key of that group reaches it.
    key = ApiKey(user_id=1, name="k", key_hash="h", key_prefix="p", group="team-a")
    plan = await scheduler.plan(*RESPONSES, key=key, continues="resp_g")
    assert names(plan.candidates) == ["a1"] and plan.refusal is None


async def test_a_full_holder_says_whose_response_it_is() -> None:
    pool = await pool_of(responses_account())
    scheduler = Scheduler(pool, MemoryState())
    await scheduler.remember_response(pool.accounts[0], "resp_1")
    plan = await scheduler.plan(*RESPONSES, continues="resp_1")
    plan.skipped.append("a1: 1 requests in flight already")  # what the relay adds when its slot is taken
    assert plan.why_none("openai", "gpt-5") == ("the account of previous response resp_1 cannot serve now: "
                                                "a1: 1 requests in flight already; retry later, or send the "
                                                "full input without previous_response_id")
