"""Seed: plain values stored as the admin API stores them, readable by a gateway given the seed's settings."""

from __future__ import annotations

import pytest

from aiproxy import MemoryStores
from aiproxy.security.api_keys import hash_api_key
from aiproxy.security.passwords import verify_password
from aiproxy.testing import IssuedKey, Seed

pytestmark = pytest.mark.anyio


async def test_a_user_without_a_password_cannot_sign_in_and_with_one_can() -> None:
    seed = Seed()
    alice = await seed.user()
    root = await seed.user("root", role="admin", password="a-long-password")
    assert (alice.username, alice.role) == ("alice", "user")
    assert not verify_password(alice.password_hash, "")
    assert root.role == "admin" and verify_password(root.password_hash, "a-long-password")


async def test_a_key_is_handed_back_in_plaintext_and_stored_hashed() -> None:
    seed = Seed()
    user = await seed.user()
    issued = await seed.key(user, name="ci", daily_cost_limit=5.0)
    plaintext, stored = issued
    assert isinstance(issued, IssuedKey) and issued.plaintext == plaintext
    assert plaintext not in (stored.key_hash, stored.key_prefix)
    found = await seed.stores.keys.get_by_hash(hash_api_key(plaintext))
    assert found is not None and (found.id, found.user_id, found.name, found.daily_cost_limit) == (
        stored.id, user.id, "ci", 5.0)
    assert (await seed.key(user.id)).key.user_id == user.id  # by id too


async def test_an_account_is_encrypted_for_the_seeds_key_and_on_its_types_platform() -> None:
    stores = MemoryStores()
    seed = Seed(stores)
    account = await seed.account({"api_key": "sk-x"}, type="openai", priority=10)
    assert (account.platform, account.type, account.name, account.priority) == ("openai", "openai", "openai", 10)
    assert "sk-x" not in account.credentials and seed.cipher.decrypt(account.credentials) == {"api_key": "sk-x"}
    assert seed.settings().encryption_key == seed.encryption_key
    assert seed.settings(max_request_bytes=7).max_request_bytes == 7
    with pytest.raises(ValueError):
        await seed.account({}, type="no-such-type")
    assert (await seed.account({}, type="no-such-type", platform="claude")).platform == "claude"
