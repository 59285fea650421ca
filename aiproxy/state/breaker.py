"""A circuit breaker in front of a shared store (Redis): after a failure, don't try it for a while.

Closed: every call goes through. A failure (connection refused, a timeout)
opens it for `cooldown` seconds, during which nothing is tried at all, so a
dead or frozen Redis costs each request nothing rather than a timeout. Once
the cool-down has passed, one caller is let through as the probe (half-open);
its success closes the breaker, its failure opens it for another cool-down.

The check on the path is one float comparison while closed. Changes of state
are logged once each (not per request).
"""

from __future__ import annotations

import logging
import time
from typing import Callable

log = logging.getLogger("aiproxy.state")

# What allows() answers: refused, allowed (closed), allowed as the one probe.
REFUSED = 0
ALLOWED = 1
PROBE = 2


class CircuitBreaker:
    def __init__(self, cooldown: float = 5.0, *, name: str = "Redis", clock: Callable[[], float] = time.monotonic) -> None:
        self.cooldown = cooldown
        self.name = name
        self._clock = clock
        self._open_until = 0.0  # 0.0 while closed; else when the next probe may go
        self._probing = False
        self.reason = ""  # why it opened, for logs and /health
        self.opened_at: float | None = None  # epoch seconds, for /health

    @property
    def is_open(self) -> bool:
        """Open or half-open: the store is not known to answer."""
        return self._open_until != 0.0

    def allows(self) -> int:
        """REFUSED, ALLOWED, or PROBE (this caller is the one probe; report its outcome)."""
        if not self._open_until:
            return ALLOWED
        if self._probing or self._clock() < self._open_until:
            return REFUSED
        self._probing = True
        return PROBE

    def succeeded(self) -> None:
        if not self._open_until:
            return
        down_for = time.time() - self.opened_at if self.opened_at is not None else 0.0
        self._open_until = 0.0
        self._probing = False
        self.reason = ""
        self.opened_at = None
        log.warning("%s answers again after %.1f s: shared state is back in use", self.name, down_for)

    def failed(self, exc: BaseException) -> None:
        was_closed = not self._open_until
        self._open_until = self._clock() + self.cooldown
        self._probing = False
        if was_closed:
            self.reason = describe(exc)
            self.opened_at = time.time()
            log.warning(
                "%s unreachable (%s): serving from process-local state, trying again every %g s",
                self.name,
                self.reason,
                self.cooldown,
            )

    def abandoned(self) -> None:
        """The probe ended without an answer either way (its caller was cancelled): let another probe."""
        self._probing = False

    def retry_after(self) -> float:
        """Seconds until the next probe may go (0 while closed)."""
        if not self._open_until:
            return 0.0
        return max(0.0, self._open_until - self._clock())


def describe(exc: BaseException) -> str:
    text = str(exc).strip()
    name = type(exc).__name__
    return f"{name}: {text[:200]}" if text else name
