"""Leases on every backend: one holder at a time, expiry, extension, release."""

from __future__ import annotations

import anyio
import pytest

from aiproxy.stores.protocols import Stores

pytestmark = pytest.mark.anyio


async def test_one_holder_until_released(stores: Stores) -> None:
    assert await stores.leases.acquire("refresh:1", "a", 30) is True
    assert await stores.leases.acquire("refresh:1", "b", 30) is False
    assert await stores.leases.acquire("refresh:2", "b", 30) is True  # names are independent
    assert await stores.leases.acquire("refresh:1", "a", 30) is True  # the holder may extend
    await stores.leases.release("refresh:1", "b")  # not the holder: nothing happens
    assert await stores.leases.acquire("refresh:1", "b", 30) is False
    await stores.leases.release("refresh:1", "a")
    assert await stores.leases.acquire("refresh:1", "b", 30) is True


async def test_an_expired_lease_can_be_taken(stores: Stores) -> None:
    assert await stores.leases.acquire("refresh:1", "a", 0.05) is True
    await anyio.sleep(0.1)
    assert await stores.leases.acquire("refresh:1", "b", 30) is True
    assert await stores.leases.acquire("refresh:1", "a", 30) is False


async def test_racing_acquirers_get_exactly_one_lease(stores: Stores) -> None:
    won: list[str] = []

    async def race(owner: str) -> None:
        if await stores.leases.acquire("refresh:9", owner, 30):
            won.append(owner)

    async with anyio.create_task_group() as tg:
        for i in range(10):
            tg.start_soon(race, f"p{i}")
    assert len(won) == 1
