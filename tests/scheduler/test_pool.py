"""AccountPool's refresh loop while the account store fails."""

from __future__ import annotations

import anyio
import pytest

from aiproxy.scheduler.pool import AccountPool, PoolAccount
from aiproxy.security.cipher import CredentialCipher
from aiproxy.stores.entities import Account
from aiproxy.stores.memory import MemoryAccountStore

pytestmark = pytest.mark.anyio


class FlakyAccounts(MemoryAccountStore):
    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.reads = 0

    async def list(self) -> list[Account]:
        self.reads += 1
        if self.down:
            raise ConnectionRefusedError(111, "Connection refused")
        return await super().list()


async def test_refresh_keeps_the_accounts_and_logs_once_per_change(caplog: pytest.LogCaptureFixture) -> None:
    cipher = CredentialCipher(CredentialCipher.generate_key())
    store = FlakyAccounts()
    await store.create(Account(name="a", platform="claude", type="claude-console", credentials=cipher.encrypt({"api_key": "k"})))
    pool = AccountPool(store, cipher)
    await pool.reload()
    store.down = True
    async with anyio.create_task_group() as tg:
        tg.start_soon(pool.refresh_forever, 0.005)
        with anyio.fail_after(5):
            while store.reads < 10:
                await anyio.sleep(0.005)
        assert [a.account.name for a in pool.accounts] == ["a"]  # the last ones read
        store.down = False
        await store.create(Account(name="b", platform="claude", type="claude-console", credentials=cipher.encrypt({"api_key": "k"})))
        with anyio.fail_after(5):
            while len(pool.accounts) < 2:
                await anyio.sleep(0.005)
        tg.cancel_scope.cancel()
    lines = [r for r in caplog.records if r.name == "aiproxy.pool"]
    assert len(lines) == 2, [r.getMessage() for r in lines]
    assert "failed: ConnectionRefusedError" in lines[0].getMessage() and "keeping the 1" in lines[0].getMessage()
    assert "works again" in lines[1].getMessage()
    assert all(r.exc_info is None for r in lines)


def test_bridged_models_are_its_lists_plain_names_else_its_types_known_ones_of_its_family() -> None:
    def account(**fields: object) -> PoolAccount:
        return PoolAccount(Account(name="a", platform="gemini", type="gemini-oauth", **fields), {})  # type: ignore[arg-type]

    listed = account(models=["gemini-2.5-pro", "gemini-*"], model_mapping={"claude-sonnet-4-5": "gemini-2.5-pro"})
    assert listed.bridged_models(["ignored"]) == ["gemini-2.5-pro", "claude-sonnet-4-5"]
    # Listing none: its type's known models that it serves on another platform's routes (its family).
    assert account().bridged_models(["gemini-2.5-flash", "gpt-4o"]) == ["gemini-2.5-flash"]
