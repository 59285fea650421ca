"""GET /api/usage: a key's own status, asked with the key itself."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from aiproxy.stores.entities import UsageRecord, utcnow
from tests.fakes.anthropic_upstream import USAGE, FakeAnthropic
from tests.harness import Harness

pytestmark = pytest.mark.anyio

BODY = {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
TOKENS = sum(USAGE[k] for k in ("input_tokens", "output_tokens", "cache_creation_input_tokens",
                                "cache_read_input_tokens"))


async def test_fresh_key_status_without_limits(harness: Harness) -> None:
    r = await harness.http.get("/api/usage", headers={"authorization": f"Bearer {harness.key}"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["key"]["name"] == "test key" and body["key"]["enabled"] is True
    assert body["key"]["key_prefix"] and harness.key.startswith(body["key"]["key_prefix"])
    assert "key_hash" not in r.text and "hash" not in body["key"]
    assert body["limits"] == {"rpm_limit": None, "max_concurrency": None, "daily_token_limit": None,
                              "daily_cost_limit": None, "weekly_cost_limit": None, "total_cost_limit": None}
    assert body["used"] == {"tokens_today": 0, "cost_today": 0.0, "cost_this_week": 0.0, "cost_total": 0.0,
                            "concurrency": 0}
    assert body["remaining"] == {}
    assert body["usage"] == []


@pytest.mark.parametrize("how", ["x-api-key", "bearer", "x-goog-api-key", "query"])
async def test_key_accepted_in_every_place(harness: Harness, how: str) -> None:
    plain, key = await harness.add_key(name="mine", models=["claude-*"], platforms=["claude"])
    headers = {"x-api-key": {"x-api-key": plain}, "bearer": {"authorization": f"Bearer {plain}"},
               "x-goog-api-key": {"x-goog-api-key": plain}, "query": {}}[how]
    params = {"key": plain} if how == "query" else None
    r = await harness.http.get("/api/usage", headers=headers, params=params)
    assert r.status_code == 200, r.text
    assert r.json()["key"] == {"id": key.id, "name": "mine", "key_prefix": key.key_prefix, "enabled": True,
                               "expires_at": None, "expires_after_days": None, "first_used_at": None,
                               "expires": None, "platforms": ["claude"], "models": ["claude-*"]}


async def test_expiry_after_first_use_shown(harness: Harness) -> None:
    plain, key = await harness.add_key(expires_after_days=3)
    await harness.stores.keys.mark_first_use(key.id, datetime(2026, 11, 20, 8, 0))  # type: ignore[arg-type]
    r = await harness.http.get("/api/usage", headers={"x-api-key": plain})
    shown = r.json()["key"]
    assert (shown["expires_after_days"], shown["first_used_at"], shown["expires"]) == (
        3, "2026-11-20T08:00:00Z", "2026-11-23T08:00:00Z"
    )


async def test_errors_in_openai_shape(harness: Harness) -> None:
    r = await harness.http.get("/api/usage")
    assert r.status_code == 401
    assert "missing API key" in r.json()["error"]["message"]
    r = await harness.http.get("/api/usage", headers={"authorization": "Bearer sk-not-a-key"})
    assert r.status_code == 401 and r.json()["error"]["message"] == "invalid API key"
    r = await harness.http.post("/api/usage", headers={"authorization": f"Bearer {harness.key}"})
    assert r.status_code == 405 and "GET" in r.json()["error"]["message"]


async def test_used_and_remaining_follow_the_quota_counters(harness: Harness, fake_anthropic: FakeAnthropic) -> None:
    plain, _ = await harness.add_key(rpm_limit=10, max_concurrency=2, daily_token_limit=10_000,
                                     daily_cost_limit=1.0, weekly_cost_limit=5.0, total_cost_limit=20.0)
    for _ in range(2):
        r = await harness.http.post("/claude/v1/messages", json=BODY, headers={"x-api-key": plain})
        assert r.status_code == 200, r.text
    records = await harness.records()
    cost = sum(rec.cost_usd for rec in records)
    assert cost > 0

    r = await harness.http.get("/api/usage", headers={"x-api-key": plain})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["limits"]["rpm_limit"] == 10 and body["limits"]["total_cost_limit"] == 20.0
    used = body["used"]
    assert used["requests_this_minute"] in (2, 0)  # 0 only if the minute turned between
    assert used["tokens_today"] == 2 * TOKENS
    assert used["cost_today"] == pytest.approx(cost)
    assert used["cost_this_week"] == pytest.approx(cost)
    assert used["cost_total"] == pytest.approx(cost)
    assert used["concurrency"] == 0
    remaining = body["remaining"]
    assert remaining["rpm_limit"] == 10 - used["requests_this_minute"]
    assert remaining["max_concurrency"] == 2
    assert remaining["daily_token_limit"] == 10_000 - 2 * TOKENS
    assert remaining["daily_cost_limit"] == pytest.approx(1.0 - cost)
    assert remaining["weekly_cost_limit"] == pytest.approx(5.0 - cost)
    assert remaining["total_cost_limit"] == pytest.approx(20.0 - cost)
    today = utcnow().date().isoformat()
    assert body["usage"] == [{"day": today, "requests": 2, "tokens": 2 * TOKENS,
                              "input_tokens": 2 * USAGE["input_tokens"], "output_tokens": 2 * USAGE["output_tokens"],
                              "cache_creation_tokens": 2 * USAGE["cache_creation_input_tokens"],
                              "cache_read_tokens": 2 * USAGE["cache_read_input_tokens"],
                              "cost_usd": pytest.approx(cost)}]


async def test_usage_history_is_the_keys_own_last_30_days_by_day(harness: Harness) -> None:
    plain, key = await harness.add_key(name="history")
    _, other = await harness.add_key(name="other")
    now = utcnow()

    def record(key_id: int, days_ago: int, tokens: int) -> UsageRecord:
        return UsageRecord(key_id=key_id, user_id=harness.user.id, platform="claude", model="claude-sonnet-4-5",
                           endpoint="messages", status=200, input_tokens=tokens, cost_usd=0.5,
                           created_at=now - timedelta(days=days_ago))

    await harness.stores.usage.add_many([record(key.id, 0, 10), record(key.id, 0, 5), record(key.id, 3, 7),
                                         record(key.id, 45, 1000), record(other.id, 0, 99)])
    r = await harness.http.get("/api/usage", headers={"x-api-key": plain})
    usage = r.json()["usage"]
    assert [(d["day"], d["requests"], d["tokens"]) for d in usage] == [
        ((now - timedelta(days=3)).date().isoformat(), 1, 7),
        (now.date().isoformat(), 2, 15),
    ]
    assert usage[1]["cost_usd"] == pytest.approx(1.0)
