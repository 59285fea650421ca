"""Hostile request bodies, made deterministically from a seed.

`bodies(template, rng, n)` gives `n` (label, bytes) pairs for one route: first
a fixed set every route gets (10,000-deep JSON, broken encodings, NaN, huge
numbers, duplicate keys, top-level arrays, empty bodies...), then mutations of
the route's valid `template` (each field given every wrong type, huge strings,
deep values, fields removed or added) and random JSON values, until `n`.
"""

from __future__ import annotations

import copy
import json
import random
from typing import Any, Iterator

MIB = 1024 * 1024


def deep(depth: int, kind: str = "list") -> bytes:
    if kind == "list":
        return b"[" * depth + b"]" * depth
    if kind == "object":
        return b'{"a":' * depth + b"1" + b"}" * depth
    return b'[{"a":' * (depth // 2) + b"1" + b"}]" * (depth // 2)  # alternating


def fixed_cases(template: dict[str, Any]) -> list[tuple[str, bytes]]:
    """What every route is sent, whatever its template."""
    valid = json.dumps(template).encode()
    cases: list[tuple[str, bytes]] = [
        ("deep-10000-list", deep(10_000)),
        ("deep-10000-object", deep(10_000, "object")),
        ("deep-10000-mixed", deep(10_000, "mixed")),
        ("deep-100000-list", deep(100_000)),
        ("deep-10000-unclosed", b"[" * 10_000),
        ("deep-10000-in-field", valid[:-1] + b',"deep":' + deep(10_000) + b"}"),
    ]
    # Between the gateway's cap (128) and orjson's limits (254 to encode, 1024 to parse).
    for depth in (127, 128, 129, 200, 254, 255, 256, 300, 1000, 1023, 1024, 1025):
        for kind in ("list", "object"):
            cases.append((f"deep-{depth}-{kind}-in-field", valid[:-1] + b',"deep":' + deep(depth, kind) + b"}"))
    for field in template:
        cases.append((f"deep-300-as-{field}", _with(template, field, "__DEEP__").replace(b'"__DEEP__"', deep(300))))
    cases += [
        ("empty", b""),
        ("whitespace", b" \n\t\r "),
        ("null", b"null"),
        ("true", b"true"),
        ("zero", b"0"),
        ("string", b'"a string"'),
        ("array-empty", b"[]"),
        ("array-of-template", b"[" + valid + b"]"),
        ("array-of-numbers", b"[1, 2, 3]"),
        ("object-empty", b"{}"),
        ("huge-int-top", b"9" * 5000),
        ("huge-int-field", valid[:-1] + b',"n":' + b"9" * 5000 + b"}"),
        ("int-2^64", valid[:-1] + b',"n":18446744073709551616}'),
        ("int-2^63", valid[:-1] + b',"n":9223372036854775808}'),
        ("int--2^63-1", valid[:-1] + b',"n":-9223372036854775809}'),
        ("float-1e999", valid[:-1] + b',"n":1e999}'),
        ("float-neg-zero", valid[:-1] + b',"n":-0.0}'),
        ("float-tiny", valid[:-1] + b',"n":1e-400}'),
        ("nan", valid[:-1] + b',"n":NaN}'),
        ("infinity", valid[:-1] + b',"n":Infinity}'),
        ("neg-infinity", valid[:-1] + b',"n":-Infinity}'),
        ("nan-top", b"NaN"),
        ("invalid-utf8-ff", valid[:-1] + b',"s":"\xff\xfe"}'),
        ("invalid-utf8-truncated", valid[:-1] + b',"s":"\xe2\x82"}'),
        ("invalid-utf8-overlong", valid[:-1] + b',"s":"\xc0\xaf"}'),
        ("invalid-utf8-surrogate-bytes", valid[:-1] + b',"s":"\xed\xa0\x80"}'),
        ("invalid-utf8-in-key", b'{"\xff":1}'),
        ("lone-surrogate-escape", valid[:-1] + b',"s":"\\ud800"}'),
        ("lone-low-surrogate", valid[:-1] + b',"s":"\\udfff x"}'),
        ("nul-escape", valid[:-1] + b',"s":"a\\u0000b"}'),
        ("raw-control-char", valid[:-1] + b',"s":"a\x01b"}'),
        ("bom", b"\xef\xbb\xbf" + valid),
        ("utf16", json.dumps(template).encode("utf-16")),
        ("duplicate-keys", b'{"a":1,"a":2,' + valid[1:]),
        ("duplicate-every-key", _duplicate_every_key(template)),
        ("trailing-comma", valid[:-1] + b",}"),
        ("trailing-garbage", valid + b"garbage"),
        ("two-documents", valid + valid),
        ("truncated-half", valid[: len(valid) // 2]),
        ("truncated-one", valid[:-1]),
        ("single-quotes", valid.replace(b'"', b"'")),
        ("comments", b"/* c */" + valid),
        ("ten-thousand-keys", json.dumps({**template, **{f"k{i}": i for i in range(10_000)}}).encode()),
        ("long-key", json.dumps({**template, "k" * MIB: 1}).encode()),
        ("huge-string-field", json.dumps({**template, "extra": "x" * (4 * MIB)}).encode()),
        ("many-small-arrays", json.dumps({**template, "extra": [[]] * 100_000}).encode()),
        ("binary", bytes(range(256)) * 16),
        ("valid", valid),
    ]
    for field in template:
        cases.append((f"huge-string-as-{field}", _with(template, field, "x" * MIB)))
        cases.append((f"nul-string-as-{field}", _with(template, field, "a\x00b/../?#%2F:")))
        cases.append((f"removed-{field}", json.dumps({k: v for k, v in template.items() if k != field}).encode()))
    return cases


def _with(template: dict[str, Any], field: str, value: Any) -> bytes:
    return json.dumps({**template, field: value}).encode()


def _duplicate_every_key(template: dict[str, Any]) -> bytes:
    parts = [f"{json.dumps(k)}:{json.dumps(v)}" for k, v in template.items()]
    parts += [f"{json.dumps(k)}:null" for k in template]
    return ("{" + ",".join(parts) + "}").encode()


# Values of every JSON type, and the awkward members of each.
def random_scalar(rng: random.Random) -> Any:
    return rng.choice(
        [
            None,
            True,
            False,
            0,
            -1,
            1,
            2**31,
            2**53 + 1,
            2**63 - 1,
            -(2**63),
            2**64 - 1,
            0.5,
            -0.0,
            1e308,
            -1e308,
            1e-308,
            "",
            " ",
            "a",
            "\x00",
            "\u202e",
            "\U0001f600",
            "../../etc/passwd",
            "?x=1#frag",
            "%2F%00",
            "a:b:c",
            "x" * rng.choice([100, 1000, 10_000, 100_000]),
            "claude-sonnet-4-5",
            "gpt-4o",
            "gemini-2.5-flash",
            "ccr,claude-sonnet-4-5",
            "2026-01-01",
            "2026-01-01T00:00:00Z",
            "9999-12-31T23:59:59+14:00",
            "0000-00-00",
            "http://127.0.0.1:1/",
            "javascript:alert(1)",
            "user",
            "admin",
            "claude",
            "openai",
            "gemini",
        ]
    )


def random_value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 6 or roll < 0.55:
        return random_scalar(rng)
    if roll < 0.75:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = ["type", "text", "role", "content", "name", "parts", "model", "a", "", " "]
    return {rng.choice(keys): random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in `value` a mutation may replace."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _paths(item, prefix + (i,))


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], rest, new)}
    copied = list(value)
    copied[head] = _replace(value[head], rest, new)
    return copied


def _remove(value: Any, path: tuple[Any, ...]) -> Any:
    if len(path) == 1:
        if isinstance(value, dict):
            return {k: v for k, v in value.items() if k != path[0]}
        return [v for i, v in enumerate(value) if i != path[0]]
    head = path[0]
    if isinstance(value, dict):
        return {**value, head: _remove(value[head], path[1:])}
    copied = list(value)
    copied[head] = _remove(value[head], path[1:])
    return copied


def mutate(template: dict[str, Any], rng: random.Random) -> tuple[str, Any]:
    """One random change (or a few) to the template."""
    body: Any = copy.deepcopy(template)
    labels = []
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        places = list(_paths(body))[1:] or [()]
        place = rng.choice(places)
        roll = rng.random()
        if roll < 0.6:
            new = random_value(rng)
            body = _replace(body, place, new)
            labels.append(f"{'.'.join(map(str, place))}={type(new).__name__}")
        elif roll < 0.75 and place:
            body = _remove(body, place)
            labels.append(f"-{'.'.join(map(str, place))}")
        elif roll < 0.9 and isinstance(body, dict):
            key = rng.choice(["model", "stream", "messages", "contents", "input", "tools", "extra", "x" * 300])
            body[key] = random_value(rng)
            labels.append(f"+{key[:20]}")
        else:
            body = _replace(body, place, json.loads(deep(rng.choice([64, 100, 127]))))
            labels.append(f"{'.'.join(map(str, place))}=deep")
    return "mutate:" + ",".join(labels), body


def bodies(template: dict[str, Any], rng: random.Random, n: int) -> Iterator[tuple[str, bytes]]:
    """`n` hostile bodies for a route whose valid body is `template`."""
    sent = 0
    for label, raw in fixed_cases(template):
        if sent >= n:
            return
        yield label, raw
        sent += 1
    while sent < n:
        if rng.random() < 0.85:
            label, value = mutate(template, rng)
        else:
            label, value = "random", random_value(rng)
        try:
            raw = json.dumps(value, allow_nan=True).encode("utf-8", "surrogatepass")
        except (TypeError, ValueError):
            continue
        yield label, raw
        sent += 1


# Query strings for the routes that take no body (GET), in the same spirit.
QUERY_VALUES = [
    "",
    "1",
    "0",
    "-1",
    "9" * 40,
    "1e9",
    "abc",
    "2026-01-01",
    "2026-01-01T00:00:00Z",
    "2026-13-45",
    "9999-12-31",
    "0001-01-01T00:00:00-23:59",
    "%00",
    "%ff%fe",
    "%ed%a0%80",
    "..%2F..%2F",
    "x" * 10_000,
    "claude",
    "model,account,key,user,day",
    "hour",
    "day",
    "nonsense",
]
QUERY_NAMES = [
    "start",
    "end",
    "user_id",
    "key_id",
    "account_id",
    "model",
    "platform",
    "status",
    "group_by",
    "interval",
    "limit",
    "offset",
    "x",
    "",
]


def query_strings(rng: random.Random, n: int) -> Iterator[tuple[str, str]]:
    for _ in range(n):
        pairs = [(rng.choice(QUERY_NAMES), rng.choice(QUERY_VALUES)) for _ in range(rng.randint(1, 5))]
        text = "&".join(f"{k}={v}" for k, v in pairs)
        yield "query:" + text[:60], text
