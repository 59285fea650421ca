"""Admin console passwords, hashed with Argon2id (argon2-cffi's tuned defaults).

Each hash or check takes ~64 MiB and tens of milliseconds of CPU, so the admin
API never calls these directly: it goes through a `PasswordHashing`, which
runs them in a worker thread (off the event loop that carries the proxied
traffic) and at most a few at a time (so a flood of logins cannot multiply the
64 MiB by the thread pool's size).
"""

from __future__ import annotations

import math
from typing import Callable, TypeVar

import anyio
import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()

T = TypeVar("T")

MIN_PASSWORD_LENGTH = 8


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


class HashingBusy(Exception):
    """No hashing slot came free within the wait: the caller should answer
    "busy, retry" rather than queue (an unbounded queue is unbounded latency)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("password hashing is busy")
        self.retry_after = retry_after


class PasswordHashing:
    """Argon2 hashing and checking, in threads, at most `concurrency` at once.

    A call that cannot start within `wait_seconds` raises HashingBusy. A check
    against no hash (an unknown username) verifies against a dummy hash made
    with the same parameters, through the same slots, so that it costs what a
    wrong password costs and does not tell who exists.
    """

    def __init__(self, concurrency: int = 1, wait_seconds: float = 5.0) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.concurrency = concurrency
        self.wait_seconds = wait_seconds
        self._slots = anyio.Semaphore(concurrency)
        self._dummy_hash: str | None = None
        self._dummy_lock = anyio.Lock()
        # What tests and the fault script read: checks and hashes running now, and the most ever at once.
        self.running = 0
        self.peak = 0

    async def _run(self, fn: Callable[..., T], *args: str) -> T:
        with anyio.move_on_after(self.wait_seconds) as waiting:
            await self._slots.acquire()
        if waiting.cancelled_caught:
            raise HashingBusy(retry_after=max(1, math.ceil(self.wait_seconds)))
        try:
            self.running += 1
            self.peak = max(self.peak, self.running)
            # Not abandoned on cancel: the slot is held until the thread (and
            # its 64 MiB) is really done.
            return await anyio.to_thread.run_sync(fn, *args)
        finally:
            self.running -= 1
            self._slots.release()

    async def hash(self, password: str) -> str:
        return await self._run(hash_password, password)

    async def _dummy(self) -> str:
        # Made once, with the parameters real hashes have now; a burst of
        # unknown usernames at start waits for the one making it.
        async with self._dummy_lock:
            if self._dummy_hash is None:
                self._dummy_hash = await self.hash("not a real password")
        return self._dummy_hash

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether `password` matches; with no hash, the same work and False."""
        if password_hash is None:
            await self._run(verify_password, await self._dummy(), password)
            return False
        return await self._run(verify_password, password_hash, password)
