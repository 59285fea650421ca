"""aiproxy's public API: exactly what embedding needs, each name importable, and `import aiproxy` stays light."""

from __future__ import annotations

import subprocess
import sys

import aiproxy

EMBEDDING_API = {
    # Building the gateway, and running it from a host's lifespan.
    "create_app", "gateway_app", "Gateway", "AdapterFactory", "AdapterDeps",
    # The middleware stack, as a declared list a host replaces or extends.
    "MIDDLEWARE", "Layer", "Place",
    # Account types (a host adds its own).
    "ACCOUNT_TYPES", "AccountType", "AccountTypes",
    # Settings, and the secrets file that keeps them stable across restarts.
    "Settings", "ServerSettings", "load_or_create_secrets",
    # Stores: the protocols, the entities, and the two implementations.
    "Stores", "UserStore", "KeyStore", "AccountStore", "UsageStore",
    "User", "ApiKey", "Account", "UsageRecord", "MemoryStores", "SQLStores",
    # Shared runtime state backends.
    "SharedState", "MemoryState", "RedisState", "ResilientState", "state_from_url",
    # The upstream transport a host's own http_client needs for per-account proxies.
    "ProxyRoutingTransport",
}


def test_all_is_the_embedding_api() -> None:
    assert set(aiproxy.__all__) == EMBEDDING_API
    assert len(aiproxy.__all__) == len(EMBEDDING_API)  # no name listed twice


def test_every_name_in_all_imports() -> None:
    for name in aiproxy.__all__:
        assert getattr(aiproxy, name) is not None, name
    namespace: dict[str, object] = {}
    exec("from aiproxy import *", namespace)
    assert EMBEDDING_API <= set(namespace)


def test_lazy_names_are_the_real_classes() -> None:
    from aiproxy.state.redis import RedisState
    from aiproxy.stores.sql import SQLStores

    assert aiproxy.SQLStores is SQLStores
    assert aiproxy.RedisState is RedisState


def test_import_does_not_load_sql_or_redis() -> None:
    # SQLAlchemy and the drivers cost a fifth of a second; redis-py is optional.
    code = "import sys, aiproxy; print(sorted(m for m in ('sqlalchemy', 'databases', 'redis') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
