"""Turning the model name a request used into the name a price table knows.

Clients and upstreams spell one model many ways: dated snapshots
(`claude-sonnet-4-5-20250929`, `gpt-4o-2024-08-06`), Bedrock ids
(`us.anthropic.claude-sonnet-4-5-20250929-v1:0`), Vertex ids
(`claude-sonnet-4-5@20250929`) and Gemini resource names (`models/gemini-2.5-pro`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# A snapshot date at the end: -20250929, -2024-08-06, or Vertex's @20250929.
_DATE_SUFFIX = re.compile(r"(?:-\d{8}|-\d{4}-\d{2}-\d{2}|@\d{8}|@latest)$")
# Bedrock: optional cross-region inference prefix, provider, id, version suffix.
_BEDROCK = re.compile(r"^(?:(?:us|eu|apac|global|us-gov|jp|au|ca)\.)?anthropic\.(?P<model>.+?)(?:-v\d+(?::\d+)?)?$")
_GEMINI_RESOURCE = "models/"

# Suffixes after a table name and `-` that name a different model rather than
# a snapshot or preview of the same one: a size variant anywhere in the suffix
# (gpt-5-nano, gpt-5-codex-mini are not gpt-5), or a minor version first
# (claude-opus-4-6 is not claude-opus-4).
_SIZE_SEGMENTS = frozenset({"mini", "nano", "lite", "micro"})
_MINOR_VERSION = re.compile(r"^\d{1,2}$")


def strip_date(name: str) -> str:
    return _DATE_SUFFIX.sub("", name)


def normalise(name: str) -> str:
    """The plain model name: lower-cased, without provider wrapping or date."""
    name = name.strip().lower()
    if name.startswith(_GEMINI_RESOURCE):
        name = name[len(_GEMINI_RESOURCE) :]
    match = _BEDROCK.match(name)
    if match:
        name = match.group("model")
    return strip_date(name)


def longest_prefix(name: str, known: Iterable[str]) -> str | None:
    """The longest known name that `name` starts with, followed by `-` and a
    suffix that is a variant of that model (`gemini-2.5-flash-preview-09-2025`),
    not another model (`gpt-5-nano`, `gpt-5-codex-mini`, `claude-opus-4-6`)."""
    best: str | None = None
    for candidate in known:
        if len(candidate) >= len(name) or not name.startswith(candidate + "-"):
            continue
        segments = name[len(candidate) + 1 :].split("-")
        if _MINOR_VERSION.match(segments[0]) or _SIZE_SEGMENTS.intersection(segments):
            continue
        if best is None or len(candidate) > len(best):
            best = candidate
    return best
