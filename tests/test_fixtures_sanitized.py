"""The recorded requests in tests/fixtures carry no credential, and no host path but /tmp.

They are what real CLIs sent, captured through the gateway (tests/cli/run_gateway.py
--dump-bodies) and passed through tests/cli/sanitize_capture.py; this is the check
that nothing slipped through, and that the sanitizer removes what the check looks for.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from aiproxy.security.api_keys import generate_api_key
from tests.cli.run_gateway import SECRET_HEADERS, UPSTREAM_KEYS
from tests.cli.sanitize_capture import Renamer, sanitize

FIXTURES = Path(__file__).parent / "fixtures"
FILES = sorted(FIXTURES.glob("*.json"))

# What a leaked credential or host path looks like. `\b` keeps words such as
# "task-" or "heap-" out; a cut secret (`ap-…`) has no characters after the dash.
SECRET_LIKE = {
    "gateway key": r"\bap-[A-Za-z0-9_-]{6,}",
    "OpenAI / Anthropic key": r"\bsk-[A-Za-z0-9_-]{6,}",
    "Google API key": r"\bAIza[0-9A-Za-z_-]{10,}",
    "bearer token": r"Bearer [A-Za-z0-9._~+/=-]{12,}",
    "JWT": r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
    "GitHub token": r"\bgh[pousr]_[A-Za-z0-9]{20,}",
    "AWS key id": r"\bAKIA[0-9A-Z]{16}\b",
    "private key": r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
    # A home directory; /tmp/home (the sanitizer's scratch HOME) is fine, /home/alice is not.
    "home path": r"(?<![\w.])(?:/home/|/Users/|/root/|[A-Za-z]:\\\\Users\\\\)",
}


def findings(text: str) -> list[str]:
    return [f"{kind}: {match.group(0)[:24]}" for kind, pattern in SECRET_LIKE.items()
            for match in re.finditer(pattern, text)]


def test_there_are_fixtures() -> None:
    names = {path.name for path in FILES}
    assert {"claude_code_messages_request.json", "codex_responses_first.json",
            "gemini_cli_generate_tool_result.json"} <= names


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_fixture_has_nothing_secret_looking(path: Path) -> None:
    assert findings(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_recorded_secret_headers_are_cut(path: Path) -> None:
    record = json.loads(path.read_text(encoding="utf-8"))
    headers = record.get("headers") if isinstance(record.get("headers"), dict) else {}
    for name, value in headers.items():
        if name in SECRET_HEADERS:
            assert value.endswith("…") and len(value) <= len("Bearer ap-…"), (name, value)


def test_check_catches_what_it_looks_for() -> None:
    key = generate_api_key()
    dirty = json.dumps({"key": key, "upstream": list(UPSTREAM_KEYS.values()),
                        "auth": "Bearer oat-0123456789abcdef", "cwd": "/home/alice/project"})
    kinds = {found.split(":")[0] for found in findings(dirty)}
    assert kinds == {"gateway key", "OpenAI / Anthropic key", "Google API key", "bearer token", "home path"}
    assert findings("heap-allocated task-list in /tmp/home/.gemini and Bearer ap-…") == []


def test_sanitizer_leaves_nothing_for_the_check() -> None:
    key = generate_api_key()
    session = "01a23226-a4f3-7af3-b6b1-c3c3799875d2"
    record = {
        "method": "POST", "path": "/openai/v1/responses", "query": "",
        "headers": {"authorization": f"Bearer {key}", "x-goog-api-key": key, "host": "127.0.0.1:47247",
                    "session-id": session},
        "status": 200, "body_bytes": 100,
        "body": {"input": [{"role": "developer", "content": [{"type": "input_text", "text": "Secret prompt."}]},
                           {"role": "user", "content": [{"type": "input_text",
                                                         "text": "<cwd>/tmp/clis/scratch/c1/work</cwd>"}]}],
                 "tools": [{"type": "function", "name": "t", "description": "Runs things.",
                            "parameters": {"properties": {"p": {"type": "string", "description": "A path."}}}}],
                 "prompt_cache_key": session},
    }
    text = sanitize(record, "/tmp/clis/scratch", Renamer())
    assert findings(text) == [] and key not in text and session not in text
    out = json.loads(text)
    assert out["headers"]["authorization"] == "Bearer ap-…" and out["headers"]["x-goog-api-key"] == "ap-…"
    assert out["headers"]["host"] == "127.0.0.1:8080" and "status" not in out
    # Same id, same replacement: a session's requests still match.
    assert out["headers"]["session-id"] == out["body"]["prompt_cache_key"] == "00000000-0000-7000-8000-000000000001"
    developer, user = out["body"]["input"]
    assert developer["content"][0]["text"] == "lorem ipsum do"  # as long as "Secret prompt."
    assert user["content"][0]["text"] == "<cwd>/tmp/work</cwd>"
    tool = out["body"]["tools"][0]
    assert len(tool["description"]) == len("Runs things.") and "Runs" not in tool["description"]
    assert tool["parameters"]["properties"]["p"]["description"] == "lorem i"  # as long as "A path."
