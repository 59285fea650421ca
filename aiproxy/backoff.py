"""Exponential backoff with jitter, for the loops that retry a store that is down."""

from __future__ import annotations


def backoff_delay(failures: int, initial: float, cap: float, jitter: float) -> float:
    """Seconds to wait after the `failures`-th failure in a row: `initial`
    doubling each time up to `cap`, scaled by `jitter` (0..1) into [50%, 100%]
    so that many processes do not retry in step."""
    base = min(cap, initial * 2.0 ** min(max(failures, 1) - 1, 60))
    return base * (0.5 + jitter / 2)


def describe(exc: BaseException) -> str:
    """An exception on one short line, for a log line that stands for many failures."""
    text = " ".join(str(exc).split())
    if len(text) > 200:
        text = text[:200] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
