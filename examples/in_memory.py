"""The gateway on in-memory stores, seeded in code: no database, nothing kept.

    pip install -e ".[server]"
    ANTHROPIC_API_KEY=sk-ant-... python examples/in_memory.py

It prints a gateway key; use it with any Anthropic client:

    curl http://127.0.0.1:8080/claude/v1/messages -H "x-api-key: <printed key>" \\
      -H "content-type: application/json" -H "anthropic-version: 2023-06-01" \\
      -d '{"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "Hi"}]}'
"""

from __future__ import annotations

import asyncio
import os

import uvicorn

from aiproxy import Account, ApiKey, MemoryStores, Settings, User, create_app
from aiproxy.security.api_keys import generate_api_key, hash_api_key, shown_prefix
from aiproxy.security.cipher import CredentialCipher
from aiproxy.security.passwords import hash_password


async def seed(stores: MemoryStores, cipher: CredentialCipher) -> str:
    user = await stores.users.create(User(username="admin", password_hash=hash_password("change-me-now"), role="admin"))
    await stores.accounts.create(
        Account(
            name="my console key",
            platform="claude",
            type="claude-console",
            credentials=cipher.encrypt({"api_key": os.environ.get("ANTHROPIC_API_KEY", "sk-ant-missing")}),
        )
    )
    key = generate_api_key()
    assert user.id is not None
    await stores.keys.create(ApiKey(user_id=user.id, name="demo", key_hash=hash_api_key(key), key_prefix=shown_prefix(key)))
    return key


def main() -> None:
    encryption_key = CredentialCipher.generate_key()
    stores = MemoryStores()
    key = asyncio.run(seed(stores, CredentialCipher(encryption_key)))
    print(f"gateway key: {key}")
    app = create_app(stores, Settings(encryption_key=encryption_key))
    uvicorn.run(app, host="127.0.0.1", port=8080)


if __name__ == "__main__":
    main()
