"""Failed admin logins, counted per username and per client address.

The first `free_failures` failures of a key (a username, or a client
address) cost nothing; from then on each failure blocks the key for a delay
that doubles with every further failure, from `base_delay` up to `max_delay`.
A blocked key's attempts are refused before any password is looked at, so
they cost neither Argon2 time nor memory, and are not counted (only checked
passwords count). A key is forgotten `window` seconds after its last failure.
A successful login forgets its username's failures; its address's failures
stay, less the one that login was counted as, so an attacker holding one good
account cannot wipe the count of an address spraying other usernames.

An attempt is counted when it is let through, before its password is
checked, and given back if it turns out to succeed (or was never checked):
otherwise a burst of concurrent guesses would all pass the check before the
first of them had failed.

Everything lives in this process's memory, in two LRU-capped tables (one for
usernames, one for addresses), so spraying names or addresses can grow neither
past `capacity` entries; usernames are kept as a short digest, whatever their
length, and IPv6 addresses by their /64 (what one host can rotate through). With several instances, each counts its own: a client spread over N
instances gets N times the attempts.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import time
from collections import OrderedDict
from typing import Callable, Hashable


class _Record:
    __slots__ = ("failures", "last", "blocked_until")

    def __init__(self) -> None:
        self.failures = 0
        self.last = 0.0  # when the last failure was counted
        self.blocked_until = 0.0


class _Table:
    """Records by key, least recently counted first, at most `capacity` of them."""

    def __init__(self, capacity: int, window: float) -> None:
        self._rows: OrderedDict[Hashable, _Record] = OrderedDict()
        self._capacity = capacity
        self._window = window

    def __len__(self) -> int:
        return len(self._rows)

    def _prune(self, now: float) -> None:
        # Oldest first: the front is the record counted longest ago, and the
        # window outlasts any block, so an old front is a forgotten one.
        while self._rows:
            record = next(iter(self._rows.values()))
            if now - record.last < self._window:
                break
            self._rows.popitem(last=False)

    def get(self, key: Hashable, now: float) -> _Record | None:
        self._prune(now)
        return self._rows.get(key)

    def counted(self, key: Hashable, now: float) -> _Record:
        self._prune(now)
        record = self._rows.get(key)
        if record is None:
            record = self._rows[key] = _Record()
            while len(self._rows) > self._capacity:
                self._rows.popitem(last=False)
        else:
            self._rows.move_to_end(key)
        record.failures += 1
        record.last = now
        return record

    def drop(self, key: Hashable) -> None:
        self._rows.pop(key, None)


class LoginThrottle:
    def __init__(
        self,
        *,
        free_failures: int = 5,
        base_delay: float = 1.0,
        max_delay: float = 900.0,
        window: float = 3600.0,
        capacity: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free_failures = max(0, free_failures)
        self.base_delay = base_delay
        self.max_delay = max_delay
        # Never shorter than a block: a key must not be forgotten while blocked.
        window = max(window, max_delay)
        self._clock = clock
        self._users = _Table(capacity, window)
        self._addresses = _Table(capacity, window)

    @staticmethod
    def _user_key(username: str, scope: str) -> bytes:
        # Fixed size, so a megabyte of username costs what "admin" does; the
        # scope keeps what is counted for one purpose apart from another's.
        data = username.encode("utf-8", "surrogatepass")
        return hashlib.blake2b(data, digest_size=16, person=scope.encode()[:16]).digest()

    @staticmethod
    def _address_key(address: str) -> str:
        # An IPv6 host usually holds a whole /64 and can take a fresh address
        # from it for every attempt: count the /64. Anything unparseable
        # (a test client's name, a unix socket) is counted as it is.
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return address[:64]
        if isinstance(ip, ipaddress.IPv6Address):
            if ip.ipv4_mapped is not None:
                return str(ip.ipv4_mapped)
            return str(ipaddress.IPv6Network((ip, 64), strict=False))
        return str(ip)

    def delay_after(self, failures: int) -> float:
        """How long a key is blocked after its `failures`-th failure (0: not at all)."""
        if failures < self.free_failures or failures == 0:
            return 0.0
        return min(self.base_delay * 2.0 ** min(failures - self.free_failures, 40), self.max_delay)

    def begin(self, username: str, address: str, *, scope: str = "login") -> int | None:
        """Let an attempt through, counting it as a failure for now; or, while
        the username or the address is blocked, count nothing and return the
        whole seconds until it is not (for `Retry-After`).

        `scope` names what the username is counted for: a login, or another
        password check (the same name in two scopes has two counts); addresses
        are counted across scopes."""
        now = self._clock()
        user_key = self._user_key(username, scope)
        address = self._address_key(address)
        blocked_until = 0.0
        for table, key in ((self._users, user_key), (self._addresses, address)):
            record = table.get(key, now)
            if record is not None:
                blocked_until = max(blocked_until, record.blocked_until)
        if blocked_until > now:
            return max(1, math.ceil(blocked_until - now))
        for table, key in ((self._users, user_key), (self._addresses, address)):
            record = table.counted(key, now)
            delay = self.delay_after(record.failures)
            if delay:
                record.blocked_until = now + delay
        return None

    def _give_back(self, table: _Table, key: Hashable) -> None:
        record = table.get(key, self._clock())
        if record is None:
            return
        record.failures = max(0, record.failures - 1)
        if record.failures < self.free_failures:
            record.blocked_until = 0.0

    def succeeded(self, username: str, address: str, *, scope: str = "login") -> None:
        """The attempt let through by begin() had the right password."""
        self._users.drop(self._user_key(username, scope))
        self._give_back(self._addresses, self._address_key(address))

    def not_checked(self, username: str, address: str, *, scope: str = "login") -> None:
        """The attempt let through by begin() was never checked (hashing busy)."""
        self._give_back(self._users, self._user_key(username, scope))
        self._give_back(self._addresses, self._address_key(address))

    def sizes(self) -> tuple[int, int]:
        """How many usernames and addresses are remembered now."""
        return len(self._users), len(self._addresses)
