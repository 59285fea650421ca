"""Run one benchmarked server: `python bench/serve.py TARGET --port P --upstream URL [--transport T]`.

TARGET is `bare` (bench/forwarder.py on httpx), `bare-aiohttp` (the same on
aiohttp's client directly) or a gateway (aiproxy.create_app on SQLite stores,
seeded here with a user, a key and one account pointing at the upstream; the
key's plain text comes in BENCH_API_KEY). The gateway targets differ only in
that account (`GATEWAY_ACCOUNTS`): `gateway` a claude-console account,
`gateway-bridged` an openai one taking Claude models (Anthropic clients
translated to chat), `gateway-chat` an openai one (chat clients forwarded as
they are), `gateway-chat-bridged` a claude-console one taking GPT models (chat
clients translated to Messages). Every target runs as one uvicorn worker with
the same loop, HTTP parser and logging; the gateway on the protocol from
aiproxy.server_limits, as server.py runs it.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
import os
import sys
from dataclasses import dataclass, field, replace
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


@dataclass(frozen=True)
class BenchAccount:
    """The gateway's one account: its type and platform, its upstream key and model_mapping."""

    name: str
    platform: str
    type: str
    api_key: str
    model_mapping: dict[str, str] = field(default_factory=dict)


CONSOLE = BenchAccount("console-bench", "claude", "claude-console", "sk-ant-bench")
OPENAI = BenchAccount("openai-bench", "openai", "openai", "sk-bench")
# Each gateway target by its account. A bridged one maps the client's model
# family onto the upstream's model, so every request is translated both ways.
GATEWAY_ACCOUNTS = {
    "gateway": CONSOLE,
    "gateway-bridged": replace(OPENAI, model_mapping={"claude-*": "gpt-bench-1"}),
    "gateway-chat": OPENAI,
    "gateway-chat-bridged": replace(CONSOLE, model_mapping={"gpt-*": "claude-bench-1"}),
}


async def seed_gateway(db_url: str, encryption_key: str, api_key: str, upstream: str,
                       bench_account: BenchAccount = CONSOLE) -> None:
    """Put alice, her key and one account in the database, as an admin would."""
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
        a = bench_account
        await stores.accounts.create(Account(
            name=a.name, platform=a.platform, type=a.type, credentials=cipher.encrypt({"api_key": a.api_key}),
            base_url=upstream, model_mapping=dict(a.model_mapping),
        ))
    finally:
        await stores.close()


def build_gateway(db_path: str, upstream: str, transport: str | httpx.AsyncBaseTransport,
                  bench_account: BenchAccount = CONSOLE) -> Starlette:
    from aiproxy import Settings, create_app
    from aiproxy.security.cipher import CredentialCipher
    from aiproxy.settings import UpstreamURLs
    from aiproxy.stores.sql import SQLStores

    db_url = f"sqlite+aiosqlite:///{db_path}"
    encryption_key = CredentialCipher.generate_key()
    asyncio.run(seed_gateway(db_url, encryption_key, os.environ["BENCH_API_KEY"], upstream, bench_account))
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
    if target in GATEWAY_ACCOUNTS:
        if db_path is None:
            raise SystemExit("gateway needs --db")
        return build_gateway(db_path, upstream, transport, GATEWAY_ACCOUNTS[target])
    raise SystemExit(f"unknown target {target!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("target", choices=("bare", "bare-aiohttp", *GATEWAY_ACCOUNTS))
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
