"""Run one benchmarked server: `python bench/serve.py TARGET --port P --upstream URL [--transport T]`.

TARGET is `bare` (bench/forwarder.py on httpx), `bare-aiohttp` (the same on
aiohttp's client directly) or `gateway` (aiproxy.create_app on SQLite stores,
seeded here with a user, a key and a claude-console account pointing at the
upstream; the key's plain text comes in BENCH_API_KEY). Every target runs as
one uvicorn worker with the same loop, HTTP parser and logging; the gateway on
the protocol from aiproxy.server_limits, as server.py runs it.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
import os
import sys
from pathlib import Path

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.types import ASGIApp

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: find the bench modules

from forwarder import create_aiohttp_forwarder, create_forwarder  # noqa: E402

TRANSPORTS = ("httpx", "aiohttp")
# The same pool as aiproxy.gateway.default_transport, so targets differ only in code.
LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=200)
# Gateway defaults (Settings.read_timeout / connect_timeout).
TIMEOUT = httpx.Timeout(600.0, connect=10.0)


def server_impl() -> tuple[str, str]:
    """uvicorn's event loop and HTTP parser: the fast ones when installed, else its pure-Python defaults."""
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return loop, http


def make_transport(name: str) -> httpx.AsyncBaseTransport:
    if name == "httpx":
        return httpx.AsyncHTTPTransport(limits=LIMITS)
    if name == "aiohttp":
        from httpx_aiohttp import AiohttpTransport

        return AiohttpTransport(limits=LIMITS)
    raise ValueError(f"unknown transport {name!r}")


async def seed_gateway(db_url: str, encryption_key: str, api_key: str, upstream: str, bridged: bool = False) -> None:
    """Put alice, her key and one account in the database, as an admin would: a
    claude-console account, or (bridged) an openai one that takes Claude models
    by its model_mapping, so every request is translated both ways."""
    from aiproxy.security.api_keys import hash_api_key, shown_prefix
    from aiproxy.security.cipher import CredentialCipher
    from aiproxy.stores.entities import Account, ApiKey, User
    from aiproxy.stores.sql import SQLStores

    stores = SQLStores(db_url)
    await stores.open()
    try:
        user = await stores.users.create(User(username="alice", password_hash="x", role="user"))
        assert user.id is not None
        await stores.keys.create(
            ApiKey(user_id=user.id, name="bench", key_hash=hash_api_key(api_key), key_prefix=shown_prefix(api_key))
        )
        cipher = CredentialCipher(encryption_key)
        if bridged:
            account = Account(name="openai-bench", platform="openai", type="openai",
                              credentials=cipher.encrypt({"api_key": "sk-bench"}), base_url=upstream,
                              model_mapping={"claude-*": "gpt-bench-1"})
        else:
            account = Account(name="console-bench", platform="claude", type="claude-console",
                              credentials=cipher.encrypt({"api_key": "sk-ant-bench"}), base_url=upstream)
        await stores.accounts.create(account)
    finally:
        await stores.close()


def build_gateway(db_path: str, upstream: str, transport: str | httpx.AsyncBaseTransport,
                  bridged: bool = False) -> Starlette:
    from aiproxy import Settings, create_app
    from aiproxy.security.cipher import CredentialCipher
    from aiproxy.settings import UpstreamURLs
    from aiproxy.stores.sql import SQLStores

    db_url = f"sqlite+aiosqlite:///{db_path}"
    encryption_key = CredentialCipher.generate_key()
    asyncio.run(seed_gateway(db_url, encryption_key, os.environ["BENCH_API_KEY"], upstream, bridged))
    settings = Settings(
        jwt_secret="bench-jwt-secret",
        encryption_key=encryption_key,
        upstream=UpstreamURLs(anthropic=upstream),
    )
    if isinstance(transport, str):
        transport = make_transport(transport)
    return create_app(SQLStores(db_url), settings, transport=transport)


def build(target: str, upstream: str, transport: str, db_path: str | None) -> ASGIApp:
    if target == "bare":
        return create_forwarder(httpx.AsyncClient(transport=make_transport(transport), timeout=TIMEOUT), upstream)
    if target == "bare-aiohttp":
        assert LIMITS.max_connections is not None
        return create_aiohttp_forwarder(upstream, limit=LIMITS.max_connections)
    if target in ("gateway", "gateway-bridged"):
        if db_path is None:
            raise SystemExit("gateway needs --db")
        return build_gateway(db_path, upstream, transport, bridged=target == "gateway-bridged")
    raise SystemExit(f"unknown target {target!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("target", choices=("bare", "bare-aiohttp", "gateway", "gateway-bridged"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="base URL of the fake upstream")
    parser.add_argument("--transport", choices=TRANSPORTS, default="aiohttp")
    parser.add_argument("--db", help="SQLite file for the gateway (created and seeded)")
    args = parser.parse_args()
    app = build(args.target, args.upstream, args.transport, args.db)
    loop, http = server_impl()
    options: dict[str, object] = {"http": http}
    if args.target.startswith("gateway"):
        # The gateway runs as server.py runs it: on the protocol that enforces the server limits.
        from aiproxy.server_limits import fit_to_descriptors, uvicorn_options
        from aiproxy.settings import ServerLimits

        options = uvicorn_options(fit_to_descriptors(ServerLimits.from_env(os.environ)), http)
        gc.freeze()  # as server.py does: what start-up built stays out of full collections
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        workers=1,
        loop=loop,
        **options,  # type: ignore[arg-type]
        access_log=False,
        log_level="warning",
        lifespan="on",
    )


if __name__ == "__main__":
    main()
