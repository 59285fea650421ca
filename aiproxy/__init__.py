"""aiproxy: an AI gateway as a Starlette ASGI library.

    from aiproxy import create_app, MemoryStores
    app = create_app(MemoryStores())
"""

from __future__ import annotations

from .app import Gateway, create_app
from .settings import ServerSettings, Settings
from .stores.entities import Account, ApiKey, UsageRecord, User
from .stores.memory import MemoryStores
from .stores.protocols import AccountStore, KeyStore, Stores, UsageStore, UserStore

__all__ = [
    "Account",
    "AccountStore",
    "ApiKey",
    "Gateway",
    "KeyStore",
    "MemoryStores",
    "ServerSettings",
    "Settings",
    "Stores",
    "UsageRecord",
    "UsageStore",
    "User",
    "UserStore",
    "create_app",
]
