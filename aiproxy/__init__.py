"""aiproxy: an AI gateway as a Starlette ASGI library.

    from aiproxy import create_app, MemoryStores
    app = create_app(MemoryStores())

What a host embedding the gateway needs is importable from here (docs/embedding.md);
`aiproxy.testing` has what its tests need (seeded stores, fake upstreams).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .accounts import ACCOUNT_TYPES, AccountType, AccountTypes, AdapterDeps
from .app import create_app, gateway_app
from .gateway import AdapterFactory, Gateway
from .security.secrets_file import load_or_create_secrets
from .settings import ServerSettings, Settings
from .stack import MIDDLEWARE, Layer, Place
from .state import MemoryState, ResilientState, SharedState, state_from_url
from .stores.entities import Account, ApiKey, UsageRecord, User
from .stores.memory import MemoryStores
from .stores.protocols import AccountStore, KeyStore, Stores, UsageStore, UserStore
from .upstream_proxy import ProxyRoutingTransport

if TYPE_CHECKING:
    from .state.redis import RedisState
    from .stores.sql import SQLStores

__all__ = [
    "ACCOUNT_TYPES",
    "MIDDLEWARE",
    "Account",
    "AccountStore",
    "AccountType",
    "AccountTypes",
    "AdapterDeps",
    "AdapterFactory",
    "ApiKey",
    "Gateway",
    "KeyStore",
    "Layer",
    "MemoryState",
    "MemoryStores",
    "Place",
    "ProxyRoutingTransport",
    "RedisState",
    "ResilientState",
    "SQLStores",
    "ServerSettings",
    "Settings",
    "SharedState",
    "Stores",
    "UsageRecord",
    "UsageStore",
    "User",
    "UserStore",
    "create_app",
    "gateway_app",
    "load_or_create_secrets",
    "state_from_url",
]


def __getattr__(name: str) -> Any:
    # Imported on first use: SQLStores brings SQLAlchemy and the database
    # drivers (a fifth of a second), RedisState the optional redis-py; a
    # gateway on memory stores, or without Redis, never pays for them.
    if name == "SQLStores":
        from .stores.sql import SQLStores

        return SQLStores
    if name == "RedisState":
        from .state.redis import RedisState

        return RedisState
    raise AttributeError(f"module 'aiproxy' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
