"""The one parser for client bodies: strict JSON, nested at most MAX_DEPTH levels."""

from __future__ import annotations

import math

import orjson
import pytest

from aiproxy.jsonbody import MAX_DEPTH, JSONBodyError, parse_json_body


def nested(depth: int, *, kind: str = "list") -> bytes:
    """A value nested exactly `depth` containers deep."""
    if kind == "list":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * (depth - 1) + b"{}" + b"}" * (depth - 1)


@pytest.mark.parametrize("kind", ["list", "object"])
def test_max_depth_passes_and_one_more_is_refused(kind: str) -> None:
    assert parse_json_body(nested(MAX_DEPTH, kind=kind)) is not None
    with pytest.raises(JSONBodyError, match=f"deeper than {MAX_DEPTH} levels"):
        parse_json_body(nested(MAX_DEPTH + 1, kind=kind))


@pytest.mark.parametrize("depth", [200, 255, 300, 1000, 1025, 10_000, 100_000])
def test_far_too_deep_is_refused_as_such(depth: int) -> None:
    # Beyond orjson's own parse limit (1024) and below it alike: one message.
    with pytest.raises(JSONBodyError, match="deeper than"):
        parse_json_body(nested(depth))


def test_depth_hidden_under_a_wide_body_is_found() -> None:
    wide = {"padding": "x" * 100_000, "items": list(range(5000)), "deep": orjson.loads(nested(MAX_DEPTH))}
    with pytest.raises(JSONBodyError):
        parse_json_body(orjson.dumps(wide))
    wide["deep"] = orjson.loads(nested(MAX_DEPTH - 1))
    assert parse_json_body(orjson.dumps(wide))["items"][-1] == 4999


def test_brackets_inside_strings_are_not_nesting() -> None:
    text = "[" * 5000 + "{" * 5000
    assert parse_json_body(orjson.dumps({"text": text})) == {"text": text}


def test_a_real_tool_schema_passes() -> None:
    # Claude Code's and Codex's tool schemas nest objects in objects; 20 levels
    # of schema is ~40 of JSON, well inside the cap.
    schema: dict = {"type": "string"}
    for _ in range(20):
        schema = {"type": "object", "properties": {"inner": schema}}
    body = {"model": "m", "tools": [{"name": "t", "input_schema": schema}], "messages": []}
    assert parse_json_body(orjson.dumps(body)) == body


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"   ",
        b"{",
        b'{"a":NaN}',
        b'{"a":Infinity}',
        b'{"a":-Infinity}',
        b'{"a":"\xff"}',
        b'{"a":"\\ud800"}',  # a lone surrogate: no valid UTF-8 for it
        b"1" * 400,  # an integer far beyond 64 bits
        b'{"a":1e999}',
        b"\xef\xbb\xbf{}",  # a byte-order mark is not JSON
        b'{"a":1}garbage',
    ],
)
def test_what_is_not_strict_json_is_refused(raw: bytes) -> None:
    with pytest.raises(JSONBodyError, match="not valid JSON"):
        parse_json_body(raw)


def test_values_come_back_as_json_has_them() -> None:
    value = parse_json_body(b'{"a": [1, 2.5, "x", true, null], "a": {"b": -9223372036854775808}}')
    assert value == {"a": {"b": -(2**63)}}  # the last duplicate wins, as in json.loads
    assert parse_json_body(b"[]") == []
    assert parse_json_body(b"3") == 3
    assert math.isclose(parse_json_body(b"1e308"), 1e308)


def test_the_check_leaves_nothing_behind() -> None:
    # The probe's hole is emptied after each check, even after a refusal.
    from aiproxy import jsonbody

    with pytest.raises(JSONBodyError):
        parse_json_body(nested(MAX_DEPTH + 1))
    parse_json_body(nested(MAX_DEPTH))
    assert jsonbody._probe.hole == [None]
