"""Shared state in dicts: one process only (tests, embedding, a single worker).

Every method runs without an await inside, so under asyncio each is atomic
by itself: no locks are needed for the slot count to be exact.
"""

from __future__ import annotations

import copy
import math
import secrets
import time
from collections import OrderedDict
from typing import Callable, Iterable, Mapping

from .protocols import DEFAULT_PREFIX, AccountHealth, LastError

# Expired entries are dropped when read; this many writes between full sweeps
# keeps entries that are never read again (one-off sessions, old days' cost
# counters) from piling up.
_SWEEP_EVERY = 1000
# Response ids remembered at most (issue 13): one per stored Responses answer,
# kept for weeks, so a busy process would otherwise grow without end. About
# 200 bytes each: 100 000 of them are some 20 MB. Past the cap the oldest are
# forgotten; a follow-up naming one goes wherever the scheduler sends it.
MAX_RESPONSES = 100_000
# Pending OAuth logins held at most: each is an admin's started login, kept
# for minutes; past this, new ones are refused until some finish or lapse.
MAX_LOGINS = 1000


class MemoryState:
    def __init__(
        self, clock: Callable[[], float] = time.time, prefix: str = DEFAULT_PREFIX, *, max_responses: int = MAX_RESPONSES
    ) -> None:
        # The clock is injectable so tests can move time instead of sleeping.
        # The prefix is accepted for symmetry with RedisState; a dict per
        # instance is already private.
        self._clock = clock
        self._max_responses = max(max_responses, 1)
        self.prefix = prefix
        self._health: dict[int, AccountHealth] = {}
        self._errors: dict[int, LastError] = {}
        self._slots: dict[str, dict[str, float]] = {}  # key → token → expiry
        self._bindings: dict[str, tuple[int, float]] = {}  # session → (account, expiry)
        # response id → (account, expiry), in the order written: the oldest first
        # (an OrderedDict: dropping from the front of a plain dict is not O(1)).
        self._responses: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self._logins: dict[str, tuple[str, float]] = {}  # login id → (sealed login, expiry)
        self._last_used: dict[int, float] = {}
        self._windows: dict[tuple[str, int], tuple[int, int]] = {}  # → (window index, total)
        self._floats: dict[str, tuple[float, float]] = {}  # key → (total, expiry)
        self._writes = 0

    # --- account health -------------------------------------------------
    async def mark_account(self, account_id: int, health: AccountHealth) -> None:
        # A copy, as a remote store would keep: the caller's object stays theirs.
        self._health[account_id] = copy.copy(health)

    async def clear_account(self, account_id: int) -> None:
        self._health.pop(account_id, None)

    def seed_health(self, marks: Mapping[int, AccountHealth]) -> None:
        """Take `marks` as the marks in force (a fallback starting from a shared store's last view)."""
        self._health = {a: copy.copy(h) for a, h in marks.items()}

    async def account_health(self) -> dict[int, AccountHealth]:
        now = self._clock()
        for account_id in [a for a, h in self._health.items() if _lapsed(h, now)]:
            del self._health[account_id]
        return {a: copy.copy(h) for a, h in self._health.items()}

    async def record_error(self, account_id: int, message: str) -> None:
        self._errors[account_id] = LastError(message=message, at=self._clock())

    async def last_error(self, account_id: int) -> LastError | None:
        e = self._errors.get(account_id)
        return copy.copy(e) if e is not None else None

    # --- concurrency slots ----------------------------------------------
    def _live_slots(self, key: str) -> dict[str, float]:
        now = self._clock()
        slots = self._slots.get(key, {})
        for token in [t for t, expiry in slots.items() if expiry <= now]:
            del slots[token]
        return slots

    async def acquire(self, key: str, limit: int, lease_seconds: float) -> str | None:
        slots = self._live_slots(key)
        if len(slots) >= limit:
            return None
        token = secrets.token_hex(8)
        slots[token] = self._clock() + lease_seconds
        self._slots[key] = slots
        return token

    async def release(self, key: str, token: str) -> None:
        slots = self._slots.get(key)
        if slots is not None:
            slots.pop(token, None)
            if not slots:
                del self._slots[key]

    async def held(self, key: str) -> int:
        return len(self._live_slots(key))

    # --- sticky session bindings ----------------------------------------
    async def get_binding(self, session: str) -> int | None:
        bound = self._bindings.get(session)
        if bound is None:
            return None
        if bound[1] <= self._clock():
            del self._bindings[session]
            return None
        return bound[0]

    async def bind(self, session: str, account_id: int, ttl_seconds: float) -> None:
        self._bindings[session] = (account_id, self._clock() + ttl_seconds)
        self._wrote()

    async def unbind(self, session: str) -> None:
        self._bindings.pop(session, None)

    # --- which account made a stored response ---------------------------
    async def remember_response(self, response_id: str, account_id: int, ttl_seconds: float) -> None:
        now = self._clock()
        responses = self._responses
        responses[response_id] = (account_id, now + ttl_seconds)
        responses.move_to_end(response_id)
        # Written in order with one TTL (a setting), entries lapse oldest first:
        # lapsed ones are dropped from the front, and past the cap the oldest.
        while responses:
            _, (_, expiry) = next(iter(responses.items()))
            if expiry > now and len(responses) <= self._max_responses:
                break
            responses.popitem(last=False)

    async def response_account(self, response_id: str) -> int | None:
        made = self._responses.get(response_id)
        if made is None:
            return None
        if made[1] <= self._clock():
            del self._responses[response_id]
            return None
        return made[0]

    # --- pending OAuth logins --------------------------------------------
    async def keep_login(self, login_id: str, sealed: str, ttl_seconds: float) -> bool:
        now = self._clock()
        logins = self._logins
        if len(logins) >= MAX_LOGINS:
            for lapsed in [i for i, (_, expiry) in logins.items() if expiry <= now]:
                del logins[lapsed]
            if len(logins) >= MAX_LOGINS:
                return False
        logins[login_id] = (sealed, now + ttl_seconds)
        return True

    async def pending_login(self, login_id: str) -> str | None:
        kept = self._logins.get(login_id)
        if kept is None:
            return None
        if kept[1] <= self._clock():
            del self._logins[login_id]
            return None
        return kept[0]

    async def drop_login(self, login_id: str) -> None:
        self._logins.pop(login_id, None)

    # --- last used ------------------------------------------------------
    async def touch(self, account_id: int, at: float) -> None:
        self._last_used[account_id] = at

    async def last_used(self, account_ids: Iterable[int]) -> dict[int, float]:
        return {a: self._last_used[a] for a in account_ids if a in self._last_used}

    # --- windows and counters -------------------------------------------
    def _window_index(self, window_seconds: int) -> int:
        return math.floor(self._clock() / window_seconds)

    async def incr_window(self, key: str, window_seconds: int, amount: int = 1) -> int:
        index = self._window_index(window_seconds)
        held_index, total = self._windows.get((key, window_seconds), (index, 0))
        # Only the running window is kept: an older one's total no longer counts.
        total = (total if held_index == index else 0) + amount
        self._windows[(key, window_seconds)] = (index, total)
        return total

    async def get_window(self, key: str, window_seconds: int) -> int:
        held_index, total = self._windows.get((key, window_seconds), (-1, 0))
        return total if held_index == self._window_index(window_seconds) else 0

    async def incr_float(self, key: str, amount: float, ttl_seconds: float) -> float:
        now = self._clock()
        total, expiry = self._floats.get(key, (0.0, 0.0))
        if expiry <= now:  # absent or lapsed: a fresh counter, its lifetime from now
            total, expiry = 0.0, now + ttl_seconds
        total += amount
        self._floats[key] = (total, expiry)
        self._wrote()
        return total

    async def get_float(self, key: str) -> float:
        total, expiry = self._floats.get(key, (0.0, 0.0))
        return total if expiry > self._clock() else 0.0

    async def aclose(self) -> None:
        return None

    # --- housekeeping ---------------------------------------------------
    def _wrote(self) -> None:
        self._writes += 1
        if self._writes % _SWEEP_EVERY:
            return
        now = self._clock()
        self._bindings = {s: b for s, b in self._bindings.items() if b[1] > now}
        self._floats = {k: f for k, f in self._floats.items() if f[1] > now}
        for key in list(self._slots):
            if not self._live_slots(key):
                del self._slots[key]


def _lapsed(health: AccountHealth, now: float) -> bool:
    return health.until is not None and health.until <= now
