"""The circuit breaker on a fake clock: closed, open for the cool-down, one probe, closed again."""

from __future__ import annotations

import logging

import pytest

from aiproxy.state.breaker import ALLOWED, PROBE, REFUSED, CircuitBreaker
from tests.state.conftest import FakeClock


def test_closed_allows_and_a_failure_opens_for_the_cooldown() -> None:
    clock = FakeClock(100.0)
    b = CircuitBreaker(5.0, clock=clock)
    assert b.allows() == ALLOWED and not b.is_open
    b.succeeded()  # a success while closed changes nothing
    assert not b.is_open

    b.failed(ConnectionError("Connection refused"))
    assert b.is_open and "ConnectionError: Connection refused" == b.reason
    assert b.allows() == REFUSED
    assert b.retry_after() == pytest.approx(5.0)
    clock.now += 4.9
    assert b.allows() == REFUSED


def test_one_probe_after_the_cooldown_then_closed_on_success() -> None:
    clock = FakeClock(100.0)
    b = CircuitBreaker(5.0, clock=clock)
    b.failed(TimeoutError())
    clock.now += 5.0
    assert b.allows() == PROBE
    assert b.allows() == REFUSED  # only one probe at a time
    b.succeeded()
    assert not b.is_open and b.reason == ""
    assert b.allows() == ALLOWED


def test_a_failed_probe_opens_for_another_cooldown() -> None:
    clock = FakeClock(100.0)
    b = CircuitBreaker(2.0, clock=clock)
    b.failed(TimeoutError("first"))
    clock.now += 2.0
    assert b.allows() == PROBE
    b.failed(TimeoutError("second"))
    assert b.reason == "TimeoutError: first"  # the outage's cause, not the last probe's
    assert b.allows() == REFUSED
    clock.now += 1.9
    assert b.allows() == REFUSED
    clock.now += 0.1
    assert b.allows() == PROBE


def test_an_abandoned_probe_lets_the_next_caller_probe() -> None:
    clock = FakeClock(100.0)
    b = CircuitBreaker(1.0, clock=clock)
    b.failed(OSError("reset"))
    clock.now += 1.0
    assert b.allows() == PROBE
    b.abandoned()  # its caller was cancelled before an answer came
    assert b.allows() == PROBE


def test_each_change_of_state_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock(100.0)
    b = CircuitBreaker(1.0, clock=clock)
    with caplog.at_level(logging.WARNING, logger="aiproxy.state"):
        for _ in range(50):  # 50 requests failing at once
            b.failed(ConnectionError("refused"))
        for _ in range(3):  # failed probes
            clock.now += 1.0
            assert b.allows() == PROBE
            b.failed(ConnectionError("refused"))
        clock.now += 1.0
        assert b.allows() == PROBE
        for _ in range(50):
            b.succeeded()
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2, messages
    assert "unreachable" in messages[0] and "process-local" in messages[0]
    assert "answers again" in messages[1]


def test_failure_handling_settings_from_env() -> None:
    from aiproxy.settings import Settings

    s = Settings.from_env({})
    assert (s.redis_timeout_seconds, s.redis_cooldown_seconds, s.redis_failure_mode, s.slot_lease_seconds) == (
        0.5, 5.0, "open", 30.0)
    s = Settings.from_env({"AIPROXY_REDIS_TIMEOUT": "0.25", "AIPROXY_REDIS_COOLDOWN_SECONDS": "2",
                           "AIPROXY_REDIS_FAILURE_MODE": " Closed ", "AIPROXY_SLOT_LEASE_SECONDS": "12"})
    assert (s.redis_timeout_seconds, s.redis_cooldown_seconds, s.redis_failure_mode, s.slot_lease_seconds) == (
        0.25, 2.0, "closed", 12.0)
    with pytest.raises(ValueError, match="open or closed"):
        Settings.from_env({"AIPROXY_REDIS_FAILURE_MODE": "deny"})
