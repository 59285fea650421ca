"""Which model names an account serves, and what it calls them upstream.

An account's `models` and `model_mapping` keys may be exact names or
shell-style wildcards (`claude-*`, as a key's `models` already are). An exact
entry beats a wildcard; among wildcards the most specific one wins (the most
literal characters: `claude-opus-*` before `claude-*`), then the one listed
first. So an operator can put Claude Code on a Codex account with
`model_mapping: {"claude-*": "gpt-5-codex"}`, or map opus, sonnet and haiku
each to a model of their own.

An account with neither list serves the models of its own platform's family
(`family`), and a model of no known family is left to the route's platform.
Pure: the pool calls it per candidate account (`PoolAccount.serves` for the
route's own platform, `serves` for accounts reached through a translator),
the relay for the upstream's name (`upstream_model`).
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from functools import lru_cache
from typing import Iterable, Mapping

_WILDCARD = frozenset("*?[")

# Model-name families by the platform whose models they are. A name that
# starts with none of these is of no known family (an OpenAI-compatible
# relay's `deepseek-chat`, say).
FAMILIES: Mapping[str, tuple[str, ...]] = {
    "claude": ("claude-",),
    "openai": ("gpt-", "o1", "o3", "o4", "codex-", "chatgpt-", "text-embedding-", "omni-"),
    "gemini": ("gemini-",),
}


def family(model: str) -> str | None:
    """The platform whose model family this name belongs to, or None."""
    for platform, prefixes in FAMILIES.items():
        if model.startswith(prefixes):
            return platform
    return None


def _is_pattern(entry: str) -> bool:
    return not _WILDCARD.isdisjoint(entry)


@lru_cache(maxsize=1024)
def _specificity(pattern: str) -> int:
    return sum(ch not in _WILDCARD for ch in pattern)


def best_match(model: str, entries: Iterable[str]) -> str | None:
    """The entry that names `model`: itself if listed, else the most specific
    wildcard that matches (the first listed among equals), else None."""
    best: str | None = None
    best_rank = -1
    for entry in entries:
        if entry == model:
            return entry
        if _is_pattern(entry) and fnmatchcase(model, entry):
            rank = _specificity(entry)
            if rank > best_rank:
                best, best_rank = entry, rank
    return best


def upstream_model(model: str, mapping: Mapping[str, str]) -> str:
    """The name the account's upstream knows `model` by (its mapping, else the same)."""
    if not mapping:
        return model
    exact = mapping.get(model)
    if exact is not None:
        return exact
    entry = best_match(model, mapping)
    return mapping[entry] if entry is not None else model


def listed(model: str, models: Iterable[str], mapping: Mapping[str, str]) -> bool:
    """Do these lists name `model` (exactly or by wildcard)?"""
    return best_match(model, models) is not None or best_match(model, mapping) is not None


def plain_names(models: Iterable[str], mapping: Mapping[str, str]) -> list[str]:
    """The names these lists spell out (`models` entries, then `model_mapping`
    keys), without wildcards and repeats: what a model list can show."""
    names = dict.fromkeys(e for e in (*models, *mapping) if not _is_pattern(e))
    return list(names)


def serves(model: str, platform: str, models: Iterable[str], mapping: Mapping[str, str]) -> bool:
    """Does an account of `platform` with these lists serve `model`?

    Listed (in `models` or as a `model_mapping` key, exactly or by wildcard):
    yes, whatever the platform. Neither list: the models of its own family.
    """
    names = list(models)
    if names or mapping:
        return listed(model, names, mapping)
    return family(model) == platform
