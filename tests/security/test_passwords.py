"""PasswordHashing: Argon2 off the loop, a bounded number at once, busy rather than queued forever."""

from __future__ import annotations

import threading
import time

import anyio
import pytest
from argon2 import PasswordHasher

import aiproxy.security.passwords as passwords
from aiproxy.security.passwords import HashingBusy, PasswordHashing, hash_password

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


class SlowVerify:
    """A verify_password stand-in that takes a while, counting how many run at once (in threads)."""

    def __init__(self, seconds: float = 0.05) -> None:
        self.seconds = seconds
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0
        self.threads: set[int] = set()
        self.release = threading.Event()
        self.release.set()

    def __call__(self, password_hash: str, password: str) -> bool:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
            self.threads.add(threading.get_ident())
        self.release.wait(10)
        time.sleep(self.seconds)
        with self.lock:
            self.now -= 1
        return password == "right"


async def test_real_hash_and_verify() -> None:
    hashing = PasswordHashing()
    h = await hashing.hash("right password")
    assert await hashing.verify(h, "right password") is True
    assert await hashing.verify(h, "wrong password") is False
    assert await hashing.verify("not-a-hash", "x") is False


async def test_concurrency_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    slow = SlowVerify()
    monkeypatch.setattr(passwords, "verify_password", slow)
    hashing = PasswordHashing(concurrency=2, wait_seconds=30)
    results: list[bool] = []

    async def check(password: str) -> None:
        results.append(await hashing.verify("h", password))

    async with anyio.create_task_group() as tg:
        for i in range(10):
            tg.start_soon(check, "right" if i % 2 else "wrong")
    assert sorted(results) == [False] * 5 + [True] * 5
    assert slow.peak == 2 and hashing.peak == 2 and hashing.running == 0
    # Off the event loop: in worker threads.
    assert threading.get_ident() not in slow.threads


async def test_unknown_user_does_the_same_work_through_the_same_slots(monkeypatch: pytest.MonkeyPatch) -> None:
    slow = SlowVerify()
    monkeypatch.setattr(passwords, "verify_password", slow)
    hashing = PasswordHashing(concurrency=1, wait_seconds=30)
    async with anyio.create_task_group() as tg:
        for _ in range(4):
            tg.start_soon(hashing.verify, None, "right")
            tg.start_soon(hashing.verify, "h", "wrong")
    # Every unknown-user check verified (a dummy hash) like the known ones, one at a time.
    assert slow.peak == 1 and len(slow.threads) >= 1
    assert await hashing.verify(None, "right") is False  # even "right": there is no user


async def test_waiting_too_long_is_busy_not_queued(monkeypatch: pytest.MonkeyPatch) -> None:
    slow = SlowVerify(seconds=0)
    slow.release.clear()
    monkeypatch.setattr(passwords, "verify_password", slow)
    hashing = PasswordHashing(concurrency=1, wait_seconds=0.1)
    async with anyio.create_task_group() as tg:
        tg.start_soon(hashing.verify, "h", "wrong")
        while hashing.running == 0:
            await anyio.sleep(0.01)
        started = time.monotonic()
        with pytest.raises(HashingBusy) as busy:
            await hashing.verify("h", "wrong")
        assert time.monotonic() - started < 5
        assert busy.value.retry_after >= 1
        slow.release.set()
    # The slot came back: the next check runs.
    assert await hashing.verify("h", "right") is True


async def test_the_loop_keeps_running_while_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    slow = SlowVerify(seconds=0.3)
    monkeypatch.setattr(passwords, "verify_password", slow)
    hashing = PasswordHashing()
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await anyio.sleep(0.01)

    async with anyio.create_task_group() as tg:
        tg.start_soon(tick)
        await hashing.verify("h", "wrong")
        tg.cancel_scope.cancel()
    assert ticks >= 10


def test_concurrency_must_be_positive() -> None:
    with pytest.raises(ValueError):
        PasswordHashing(concurrency=0)


def test_module_functions_still_hash() -> None:
    assert passwords.verify_password(hash_password("pw-123456"), "pw-123456")
