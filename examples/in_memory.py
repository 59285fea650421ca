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

from aiproxy import create_app
from aiproxy.testing import Seed


async def seed(values: Seed) -> str:
    """An admin, one Anthropic console account, and a key of the admin's; returns the key's plaintext."""
    admin = await values.user("admin", role="admin", password="change-me-now")
    await values.account({"api_key": os.environ.get("ANTHROPIC_API_KEY", "sk-ant-missing")}, name="my console key")
    key, _ = await values.key(admin, name="demo")
    return key


def main() -> None:
    values = Seed()  # memory stores, and the encryption key the gateway is given below
    key = asyncio.run(seed(values))
    print(f"gateway key: {key}")
    app = create_app(values.stores, values.settings())
    uvicorn.run(app, host="127.0.0.1", port=8080)


if __name__ == "__main__":
    main()
