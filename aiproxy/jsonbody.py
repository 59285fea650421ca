"""Parsing a client's JSON body, with a cap on how deeply it may nest.

Every body a client sends (proxied routes and the admin API alike) is parsed
here, so one rule holds everywhere: valid UTF-8 JSON as orjson reads it (no
NaN or Infinity, integers within 64 bits, no lone surrogates), nested at most
`MAX_DEPTH` levels. Anything else is a `JSONBodyError`, which each caller
turns into a 400 in its own error shape.

Why a cap of our own: orjson parses up to 1024 levels, but it re-encodes at most
254 (the relay re-encodes a body whose model it rewrites), and the translators
walk bodies recursively; a body between those limits would fail deep inside
the gateway with a 500. Real clients nest far less: Claude Code's and Codex's
tool schemas put a field at ~10-20 levels; 128 leaves that several times over.

How it is checked: the parsed value is encoded once inside `254 - MAX_DEPTH`
levels of lists, so orjson's own (C) encoder hits its recursion limit exactly
when the body nests deeper than `MAX_DEPTH`. Measured (timeit, this machine):
a third of the parse or less, ~0.5-0.8 us per KB (65-100 us on a 121 KB Claude
Code body that parses in 260-280 us; +7 us on 6 KB); bodies of 256 bytes or
less (the benchmark's) skip it. A depth walk in Python costs more than the
parse itself (420 us on that body).
"""

from __future__ import annotations

import threading
from typing import Any

import orjson

MAX_DEPTH = 128


class JSONBodyError(ValueError):
    """The body is not JSON the gateway accepts; `str(exc)` says why, for the client."""


def _encode_limit() -> int:
    """How many levels orjson.dumps encodes (254 in orjson 3.x), found once by trying."""
    value: Any = 0
    depth = 0
    while depth < 4096:
        try:
            orjson.dumps(value)
        except orjson.JSONEncodeError:
            return depth - 1
        value = [value]
        depth += 1
    return depth


_ENCODE_LIMIT = _encode_limit()
_PADDING = _ENCODE_LIMIT - MAX_DEPTH
if _PADDING < 1:
    raise RuntimeError(f"this orjson encodes {_ENCODE_LIMIT} levels, fewer than MAX_DEPTH ({MAX_DEPTH})")


class _Probe(threading.local):
    """`_PADDING` nested lists, built once per thread, with a hole at the bottom.

    Per thread, because the hole is filled and emptied around each check.
    """

    def __init__(self) -> None:
        self.hole: list[Any] = [None]
        chain: list[Any] = self.hole
        for _ in range(_PADDING - 1):
            chain = [chain]
        self.chain = chain


_probe = _Probe()


def _too_deep(value: Any) -> bool:
    probe = _probe
    probe.hole[0] = value
    try:
        orjson.dumps(probe.chain)
    except orjson.JSONEncodeError:
        # Only the recursion limit can fail here: whatever orjson.loads
        # returns (str keys, 64-bit ints, finite floats, valid str) encodes.
        return True
    finally:
        probe.hole[0] = None
    return False


def parse_json_body(raw: bytes) -> Any:
    """The JSON value in `raw`, or JSONBodyError."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc):
            raise JSONBodyError(f"request body nests deeper than {MAX_DEPTH} levels") from None
        raise JSONBodyError(f"request body is not valid JSON: {exc}") from None
    # A value of depth d takes at least 2*d bytes ("[]" per level): a short
    # body cannot be too deep, and most bodies of small requests are short.
    if len(raw) > 2 * MAX_DEPTH and isinstance(value, (dict, list)) and _too_deep(value):
        raise JSONBodyError(f"request body nests deeper than {MAX_DEPTH} levels")
    return value
