"""Client values that land in an upstream URL path: checked, then encoded as one segment.

A model name, deployment or id from a client's request becomes part of the
path the gateway calls with a pool account's credentials. Spliced in as it
came, its `?`, `#`, `/`, `:` or `..` would choose another upstream method on
that account: `veo-3.0-generate-001:predictLongRunning?x=` in place of a
Gemini model calls a different API, `../../v1beta/files?` climbs out of
`models/`. So each kind of value has a rule here (`PathValue`): the characters
such a value can have, a length cap, no dot segments. A value that breaks it
raises `UnsafePathValue`, which the relay answers 400 in the caller's API shape
before anything is sent upstream. A value that passes is percent-encoded as
one path segment, leaving as they are only the characters its upstream needs
(`safe`: Bedrock's SigV4 path keeps the `:` of its model ids).

Dot segments are refused, not encoded: httpx resolves `.` and `..` in the
paths it is given (`/a/../b` goes out as `/b`), and `%2E%2E` would be decoded
back to `..` by any server or proxy that normalises paths. For the same reason
no rule admits `%` or `\\` (double decoding, and servers that take `\\` for `/`).

This module imports nothing of the gateway's: adapters, the relay and the
routes all use it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote

# Longest part of a refused value repeated in its error message: a 1 MB name is not echoed back.
_SHOWN = 60


class UnsafePathValue(ValueError):
    """A client value that cannot be a segment of an upstream URL path (answered 400)."""

    def __init__(self, what: str, value: str, reason: str) -> None:
        shown = value if len(value) <= _SHOWN else value[:_SHOWN] + "…"
        self.message = f"{what} {shown!r} is not valid: {reason}"
        super().__init__(self.message)


@dataclass(frozen=True)
class PathValue:
    """One kind of value that goes into an upstream path, and what it may be."""

    what: str  # what the value is, for error messages: "Gemini model name"
    chars: str  # characters allowed besides ASCII letters and digits
    max_length: int
    # Of `chars`, those left unescaped in the path (the upstream needs them so,
    # e.g. for a signature over the path); all others are percent-encoded.
    safe: str = ""
    _invalid: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if set("%\\?#/") & set(self.safe) or set("%\\?#") & set(self.chars):
            raise ValueError("% \\ ? # are never allowed, nor / left unescaped: see the module docstring")
        if not set(self.safe) <= set(self.chars):
            raise ValueError("safe characters must be among the allowed ones")
        object.__setattr__(self, "_invalid", re.compile(f"[^A-Za-z0-9{re.escape(self.chars)}]"))

    def check(self, value: object) -> str:
        """`value` if it is such a value; else UnsafePathValue saying why."""
        if not isinstance(value, str):
            raise UnsafePathValue(self.what, repr(value), "it is not a string")
        if not value:
            raise UnsafePathValue(self.what, value, "it is empty")
        # The length first: a 1 MB value is refused without being scanned.
        if len(value) > self.max_length:
            raise UnsafePathValue(self.what, value, f"it is longer than {self.max_length} characters")
        bad = self._invalid.search(value)
        if bad is not None:
            raise UnsafePathValue(
                self.what, value, f"it contains {bad.group()!r} (allowed: ASCII letters, digits and any of {self.chars!r})"
            )
        # Where `/` is allowed (it is escaped), the parts between are checked too:
        # a server that decodes %2F must not find a dot segment or `//` there.
        if any(part in ("", ".", "..") for part in value.split("/")):
            raise UnsafePathValue(self.what, value, "it has an empty or dot segment ('', '.' or '..' between '/')")
        return value

    def segment(self, value: object) -> str:
        """`value` checked and percent-encoded as one path segment."""
        return quote(self.check(value), safe=self.safe)


# A Gemini model as it appears in `/v1beta/models/{model}:{method}`: never a
# `:` (it would name the method) nor a `/` (another resource).
GEMINI_MODEL = PathValue("Gemini model name", "._-", 128)

# A Bedrock model id or inference profile ARN
# (`us.anthropic.claude-sonnet-4-5-20250929-v1:0`,
# `arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic…`);
# AWS caps modelId at 2048. `:` and `@` stay as they are: botocore signs the
# path as it was sent, and AWS's own SDKs send `:` unescaped; yarl (aiohttp)
# would decode their %-escapes, so the path on the wire would no longer be the
# one signed. `/` (in ARNs) is escaped, and stays so through httpx and yarl.
BEDROCK_MODEL_ID = PathValue("Bedrock model id", "._-:/@", 2048, safe=":@")

# An Azure OpenAI deployment (`{base}/openai/deployments/{deployment}/…`):
# the model taken as its own deployment, or the account's `deployments` map.
# Space and `/` are escaped (%20, %2F).
AZURE_DEPLOYMENT = PathValue("Azure deployment name", "._- /", 256)

MODEL_PLACEHOLDER = "{model}"


def fill_model(template: str, model: str | None) -> str:
    """A route's upstream path (RouteSpec.upstream_path) with its `{model}` filled in.

    Only the Gemini API names the model in its paths
    (`/v1beta/models/{model}:generateContent`), so a `{model}` holds a Gemini model name.
    """
    if MODEL_PLACEHOLDER not in template:
        return template
    return template.replace(MODEL_PLACEHOLDER, GEMINI_MODEL.segment(model))
