"""Which models a key may use: the one rule, for the permission check and the model lists alike."""

from __future__ import annotations

from fnmatch import fnmatchcase

from .stores.entities import ApiKey


def model_allowed(key: ApiKey, model: str) -> bool:
    # Entries may be exact names or shell-style wildcards ("claude-sonnet-*").
    return not key.models or any(fnmatchcase(model, pattern) for pattern in key.models)
