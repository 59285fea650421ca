from __future__ import annotations

from typing import AsyncIterator

import httpx
import pytest

from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.harness import Harness, start_harness


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def fake_anthropic() -> FakeAnthropic:
    return FakeAnthropic()


@pytest.fixture
async def harness(fake_anthropic: FakeAnthropic, anyio_backend: str) -> AsyncIterator[Harness]:
    """The gateway on in-memory stores, its upstream the fake Anthropic API (in process)."""
    async with start_harness(httpx.ASGITransport(app=fake_anthropic.app())) as h:
        yield h
