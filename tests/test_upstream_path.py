"""upstream_path: each kind of value checked against what it can be, and encoded as one segment
that httpx sends as it is (no dot segments resolved, no `?`/`#`, no extra `/`)."""

from __future__ import annotations

from urllib.parse import unquote

import httpx
import pytest

from aiproxy.upstream_path import (
    AZURE_DEPLOYMENT,
    BEDROCK_MODEL_ID,
    GEMINI_MODEL,
    PathValue,
    UnsafePathValue,
    fill_model,
)

MB = "m" * (1 << 20)
# Refused by every kind: path syntax, escapes, control characters, non-ASCII, dot segments, sizes.
HOSTILE = [
    "../../v1beta/files?", "..", ".", "../x", "x/..", "x/./y", "..%2Fx", "%2F", "a%2Fb", "a%00b", "%2e%2e",
    "a?x=1", "a#frag", "a\x00b", "\x00", "a\r\nX-Injected: 1", "a\nb", "a\tb", "a\x7fb", "a\x1bb", "a\x0bb",
    "модель", "gemini\u202e", "ｇｅｍｉｎｉ", "a\\b", "a;b", "a&b=c", "a+b", "", MB,
]
KINDS = [GEMINI_MODEL, BEDROCK_MODEL_ID, AZURE_DEPLOYMENT]


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.what)
@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: repr(v[:20]))
def test_hostile_values_are_refused_by_every_kind(kind: PathValue, value: str):
    with pytest.raises(UnsafePathValue) as caught:
        kind.segment(value)
    message = caught.value.message
    assert kind.what in message
    assert len(message) < 300  # a 1 MB name is not echoed back
    assert "\x00" not in message and "\r" not in message and "\n" not in message  # shown as repr


def test_a_gemini_model_never_has_a_colon_or_a_slash():
    for value in ("veo-3.0-generate-001:predictLongRunning", "gemini-2.5-flash:generateContent", "a/b",
                  "tunedModels/x", "models/gemini-2.5-flash"):
        with pytest.raises(UnsafePathValue):
            GEMINI_MODEL.check(value)


@pytest.mark.parametrize("value", ["gemini-2.5-flash", "gemini-2.5-flash-preview-05-20", "gemini-1.5-pro-002",
                                   "gemma-3-27b-it", "learnlm_2.0", "fail-500"])
def test_gemini_models_pass_unchanged(value: str):
    assert GEMINI_MODEL.segment(value) == value


def test_reasons_name_the_problem():
    def reason(kind: PathValue, value: str) -> str:
        with pytest.raises(UnsafePathValue) as caught:
            kind.check(value)
        return caught.value.message

    assert "'\\x00'" in reason(GEMINI_MODEL, "a\x00b")
    assert "':'" in reason(GEMINI_MODEL, "a:b")
    assert "longer than 128" in reason(GEMINI_MODEL, MB)
    assert "empty" in reason(GEMINI_MODEL, "")
    assert "dot segment" in reason(BEDROCK_MODEL_ID, "arn:aws:bedrock:x/../y")
    assert "empty or dot segment" in reason(BEDROCK_MODEL_ID, "arn:aws:bedrock:x//y")
    assert "empty or dot segment" in reason(AZURE_DEPLOYMENT, "/gpt-4o")
    assert "not a string" in reason(GEMINI_MODEL, 42)  # type: ignore[arg-type]
    assert "longer than 2048" in reason(BEDROCK_MODEL_ID, "anthropic." + "x" * 2048)


def test_non_strings_are_refused():
    for value in (None, 42, ["a"]):
        with pytest.raises(UnsafePathValue):
            GEMINI_MODEL.check(value)


# Byte for byte what bedrock.py sent before this module (quote with safe=":@!$&'()*+,;="),
# for every id Bedrock can have: SigV4 signs these paths.
@pytest.mark.parametrize("model_id, encoded", [
    ("anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic.claude-sonnet-4-5-20250929-v1:0"),
    ("us.anthropic.claude-x@v1:0", "us.anthropic.claude-x@v1:0"),
    ("arn:aws:bedrock:us-west-2:123:inference-profile/x", "arn:aws:bedrock:us-west-2:123:inference-profile%2Fx"),
    ("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2",
     "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile%2Fa1b2"),
])
def test_bedrock_ids_encode_as_before(model_id: str, encoded: str):
    from urllib.parse import quote

    assert BEDROCK_MODEL_ID.segment(model_id) == encoded == quote(model_id, safe=":@!$&'()*+,;=")


def test_azure_deployments_are_escaped_as_one_segment():
    assert AZURE_DEPLOYMENT.segment("gpt-4o") == "gpt-4o"
    assert AZURE_DEPLOYMENT.segment("prod gpt/4o") == "prod%20gpt%2F4o"
    for value in ("gpt:4o", "x" * 257):
        with pytest.raises(UnsafePathValue):
            AZURE_DEPLOYMENT.segment(value)


@pytest.mark.parametrize("kind, value", [
    (BEDROCK_MODEL_ID, "arn:aws:bedrock:us-west-2:123:inference-profile/x"),
    (BEDROCK_MODEL_ID, "anthropic.claude-../x"),  # `..` inside a part is no dot segment
    (AZURE_DEPLOYMENT, "prod gpt/4o"),
    (AZURE_DEPLOYMENT, "a/b/c"),
])
def test_encoded_values_survive_httpx_as_one_segment(kind: PathValue, value: str):
    """httpx resolves dot segments and keeps %-escapes: what passes reaches the wire as one segment."""
    url = httpx.URL(f"http://upstream.test/model/{kind.segment(value)}/invoke")
    parts = url.raw_path.split(b"/")
    assert len(parts) == 4 and parts[1] == b"model" and parts[3] == b"invoke", url.raw_path
    assert unquote(parts[2].decode()) == value
    assert b"?" not in url.raw_path and b"#" not in url.raw_path and not url.query


def test_httpx_would_resolve_dot_segments_so_they_are_refused():
    # Why dot segments are refused rather than passed: httpx climbs them.
    assert httpx.URL("http://upstream.test/v1beta/models/../../v1beta/files").raw_path == b"/v1beta/files"
    with pytest.raises(UnsafePathValue):
        GEMINI_MODEL.segment("..")


def test_fill_model():
    assert fill_model("/v1/messages", "anything at all\x00") == "/v1/messages"  # no placeholder, nothing read
    assert fill_model("/v1beta/models/{model}:generateContent", "gemini-2.5-flash") == (
        "/v1beta/models/gemini-2.5-flash:generateContent")
    for value in ("veo-3.0-generate-001:predictLongRunning?x=", "../../v1beta/files?", None, ""):
        with pytest.raises(UnsafePathValue):
            fill_model("/v1beta/models/{model}:generateContent", value)


def test_a_rule_cannot_admit_what_is_never_path_safe():
    for chars in ("%", "\\", "?", "#"):
        with pytest.raises(ValueError):
            PathValue("x", "-" + chars, 10)
    with pytest.raises(ValueError):
        PathValue("x", "-/", 10, safe="/")  # a `/` left as it is would be a segment boundary
    with pytest.raises(ValueError):
        PathValue("x", "-", 10, safe=":")  # safe must be among the allowed characters
