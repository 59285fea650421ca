"""Model-name prefixes that choose a kind of account, whatever the route.

`ccr,<model>` (Claude Code Router's way of naming a provider) is served only
by `ccr` accounts, and they are asked for `<model>`; a model without the
prefix, or no model at all, is never served by them. This is the one place
that knows the prefix.
"""

from __future__ import annotations

from typing import Collection

CCR_PREFIX = "ccr,"
CCR_TYPES = frozenset({"ccr"})


def route_model(model: str | None, types: Collection[str]) -> tuple[str | None, list[str]]:
    """The model without its routing prefix, and which of `types` may serve it."""
    if model is not None and model.startswith(CCR_PREFIX):
        return model[len(CCR_PREFIX):], [t for t in types if t in CCR_TYPES]
    return model, [t for t in types if t not in CCR_TYPES]
