"""The account types the gateway knows: one list, and everything derived from it.

Adding an account type is one module in aiproxy/accounts (its `AccountType`)
and one line in `ACCOUNT_TYPES` below; docs/architecture.md shows how. An
embedding host (or a test) passes its own registry to `create_app`
(`account_types=ACCOUNT_TYPES.plus(MY_TYPE)`) without touching this one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Iterator

from ..stores.entities import PLATFORMS
from .azure_openai import AZURE_OPENAI
from .base import AccountType, AdapterDeps
from .bedrock import BEDROCK
from .ccr import CCR
from .claude_console import CLAUDE_CONSOLE
from .claude_official import CLAUDE_OFFICIAL
from .gemini_api import GEMINI_API
from .gemini_oauth import GEMINI_OAUTH
from .openai import OPENAI
from .openai_responses import OPENAI_RESPONSES

if TYPE_CHECKING:
    from ..adapters.base import Adapter
    from ..oauth.providers import OAuthProvider
    from ..settings import OAuthSettings, UpstreamURLs


class AccountTypes:
    """An ordered, read-only set of account types, looked up by name.

    The order is the one the admin API names them in ("must be one of …") and
    the console lists them in.
    """

    def __init__(self, types: Iterable[AccountType]) -> None:
        self._types: dict[str, AccountType] = {}
        for account_type in types:
            if account_type.name in self._types:
                raise ValueError(f"account type {account_type.name!r} is declared twice")
            if account_type.platform not in PLATFORMS:
                raise ValueError(f"account type {account_type.name!r}: no platform {account_type.platform!r}")
            if not account_type.credential_modes:
                raise ValueError(f"account type {account_type.name!r} declares no way to give its credentials")
            self._types[account_type.name] = account_type

    def plus(self, *types: AccountType) -> AccountTypes:
        """These types and `types` after them."""
        return AccountTypes([*self._types.values(), *types])

    def __iter__(self) -> Iterator[AccountType]:
        return iter(self._types.values())

    def __len__(self) -> int:
        return len(self._types)

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def __getitem__(self, name: str) -> AccountType:
        return self._types[name]

    def get(self, name: str) -> AccountType | None:
        return self._types.get(name)

    def names(self) -> tuple[str, ...]:
        return tuple(self._types)

    def by_platform(self) -> dict[str, tuple[str, ...]]:
        """Platform -> its account types' names (every platform, maybe with none)."""
        return {p: tuple(t.name for t in self if t.platform == p) for p in PLATFORMS}

    def adapters(self, deps: AdapterDeps) -> dict[str, Adapter]:
        """Account type -> its adapter, built on the shared client and settings."""
        return {t.name: t.build(deps) for t in self}

    def limited_paths(self) -> dict[str, tuple[str, ...]]:
        """Account type -> the upstream paths it serves, for the types that serve only some."""
        return {t.name: t.paths for t in self if t.paths is not None}

    def model_prefixes(self) -> dict[str, frozenset[str]]:
        """Model-name prefix -> the account types served only for models so named."""
        prefixes: dict[str, set[str]] = {}
        for t in self:
            if t.model_prefix:
                prefixes.setdefault(t.model_prefix, set()).add(t.name)
        return {prefix: frozenset(names) for prefix, names in prefixes.items()}

    def oauth_providers(self, settings: OAuthSettings) -> dict[str, OAuthProvider]:
        """Account type -> its OAuth provider, for the types logged in by OAuth."""
        return {t.name: t.oauth(settings) for t in self if t.oauth is not None}

    def describe(self, upstream: UpstreamURLs) -> dict[str, Any]:
        """GET /admin/api/account-types: every type as the console's account form needs it."""
        return {"platforms": list(PLATFORMS), "account_types": [t.describe(upstream) for t in self]}


# The registry: one line per account type, in the order the admin API and the console show them.
ACCOUNT_TYPES = AccountTypes([
    CLAUDE_CONSOLE,
    CLAUDE_OFFICIAL,
    CCR,
    BEDROCK,
    OPENAI,
    AZURE_OPENAI,
    OPENAI_RESPONSES,
    GEMINI_API,
    GEMINI_OAUTH,
])

