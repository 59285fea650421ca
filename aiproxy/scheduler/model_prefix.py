"""Model-name prefixes that choose a kind of account, whatever the route.

An account type may declare a prefix (`AccountType.model_prefix`; `ccr,` for
`ccr` accounts, Claude Code Router's way of naming a provider): a model named
`<prefix><model>` is served only by accounts of such types, and they are
asked for `<model>`; a model without the prefix, or no model at all, is never
served by them. The registry (aiproxy/accounts/registry.py) gives the
prefixes; this is the one place that applies them.
"""

from __future__ import annotations

from typing import Collection, Mapping


class ModelPrefixes:
    """Prefix -> the account types served only for models so named."""

    def __init__(self, prefixes: Mapping[str, frozenset[str]]) -> None:
        self._prefixes = tuple(prefixes.items())
        # Types that serve prefixed models only: left out of every other request.
        self._prefixed = frozenset(t for _, types in self._prefixes for t in types)

    @property
    def prefixed(self) -> frozenset[str]:
        """The account types that serve prefixed models only."""
        return self._prefixed

    def route(self, model: str | None, types: Collection[str]) -> tuple[str | None, list[str]]:
        """The model without its routing prefix, and which of `types` may serve it."""
        if model is not None:
            for prefix, served in self._prefixes:
                if model.startswith(prefix):
                    return model[len(prefix):], [t for t in types if t in served]
        return model, [t for t in types if t not in self._prefixed]
