"""Stores seeded from plain values: a user, a key handed back in plaintext, accounts whose credentials are encrypted.

    seed = Seed()                                   # memory stores and an encryption key of their own
    user = await seed.user("alice")
    key, _ = await seed.key(user)                   # the plaintext a client sends
    await seed.account({"api_key": "sk-ant-..."})   # a claude-console account
    app = create_app(seed.stores, seed.settings(), transport=FakeAnthropic().transport())

The same on any `Stores` (SQL ones too). A gateway already running reads
accounts added later at its next pool reload (`Gateway.of(app).pool.reload()`,
what the admin API's change hook does).
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Any, Mapping, NamedTuple

from ..accounts import ACCOUNT_TYPES, AccountTypes
from ..security.api_keys import generate_api_key, hash_api_key, shown_prefix
from ..security.cipher import CredentialCipher
from ..security.passwords import hash_password
from ..settings import Settings
from ..stores.entities import Account, ApiKey, User
from ..stores.memory import MemoryStores
from ..stores.protocols import Stores

# A stored hash no password verifies against (not an Argon2 hash at all):
# seeded users sign in only when given a password, whose hashing takes time.
NO_PASSWORD = "x"


class IssuedKey(NamedTuple):
    """A gateway key as created: the plaintext (shown once, what clients send) and the stored row."""

    plaintext: str
    key: ApiKey


class Seed:
    """Writes plain values into `stores` the way the admin API would store them."""

    def __init__(
        self,
        stores: Stores | None = None,
        *,
        encryption_key: str | None = None,
        account_types: AccountTypes = ACCOUNT_TYPES,
    ) -> None:
        self.stores: Stores = stores if stores is not None else MemoryStores()
        # The gateway must decrypt what is seeded here: hand it `settings()`.
        self.encryption_key = encryption_key or CredentialCipher.generate_key()
        self.cipher = CredentialCipher(self.encryption_key)
        self.account_types = account_types

    def settings(self, settings: Settings | None = None, **fields: Any) -> Settings:
        """`settings` (or the defaults) with this seed's encryption key and a JWT secret, then `fields`."""
        base = settings or Settings(jwt_secret=secrets.token_urlsafe(32))
        return replace(base, encryption_key=self.encryption_key, **fields)

    async def user(self, username: str = "alice", *, role: str = "user", password: str | None = None,
                   **fields: Any) -> User:
        password_hash = hash_password(password) if password is not None else NO_PASSWORD
        return await self.stores.users.create(User(username=username, password_hash=password_hash, role=role, **fields))

    async def key(self, user: User | int, *, name: str = "test key", **fields: Any) -> IssuedKey:
        """A new key of `user` (or the user with that id); `fields` are ApiKey's (limits, models, expiry, ...)."""
        user_id = user if isinstance(user, int) else user.id
        if user_id is None:
            raise ValueError("the user is not stored yet")
        plaintext = generate_api_key()
        stored = await self.stores.keys.create(
            ApiKey(user_id=user_id, name=name, key_hash=hash_api_key(plaintext), key_prefix=shown_prefix(plaintext),
                   **fields)
        )
        return IssuedKey(plaintext, stored)

    async def account(self, credentials: Mapping[str, Any], *, type: str = "claude-console",
                      name: str | None = None, platform: str | None = None, **fields: Any) -> Account:
        """An account of `type` whose `credentials` are encrypted as stored; its platform is the type's own.

        `fields` are Account's (base_url, priority, options, proxy, ...).
        """
        if platform is None:
            declared = self.account_types.get(type)
            if declared is None:
                raise ValueError(f"unknown account type {type!r}: name its platform")
            platform = declared.platform
        return await self.stores.accounts.create(
            Account(name=name or type, platform=platform, type=type,
                    credentials=self.cipher.encrypt(dict(credentials)), **fields)
        )
