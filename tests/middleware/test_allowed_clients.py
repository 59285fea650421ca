"""A key's allowed_clients rule: which client programs may use it, told apart by their headers."""

from __future__ import annotations

import pytest

from aiproxy.middleware.permission import client_of
from tests.harness import Harness

pytestmark = pytest.mark.anyio

BODY = {"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}


def scope(**headers: str) -> dict:
    return {"headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]}


@pytest.mark.parametrize("headers,client", [
    ({"user_agent": "claude-cli/2.0.14 (external, cli)"}, "claude-code"),
    ({"user_agent": "Anthropic/JS 0.60.0", "x_app": "cli"}, "claude-code"),
    ({"user_agent": "codex_cli_rs/0.46.0 (Mac OS 15.0; arm64)"}, "codex-cli"),
    ({"user_agent": "OpenAI/Python", "originator": "codex_cli_rs"}, "codex-cli"),
    ({"user_agent": "GeminiCLI/0.9.0 (darwin; arm64)"}, "gemini-cli"),
    ({"user_agent": "google-genai-sdk/1.2 gl-node/22 gemini-cli/0.9"}, "gemini-cli"),
    ({"user_agent": "curl/8.5.0"}, None),
    ({}, None),
])
def test_client_of(headers: dict[str, str], client: str | None) -> None:
    assert client_of(scope(**headers)) == client


async def test_key_without_the_rule_takes_any_client(harness: Harness) -> None:
    r = await harness.http.post("/claude/v1/messages", json=BODY, headers={"x-api-key": harness.key,
                                                                           "user-agent": "curl/8"})
    assert r.status_code == 200, r.text


async def test_claude_code_only_key(harness: Harness) -> None:
    plain, _ = await harness.add_key(allowed_clients=["claude-code"])
    ok = await harness.http.post("/claude/v1/messages", json=BODY,
                                 headers={"x-api-key": plain, "user-agent": "claude-cli/2.0.14 (external, cli)"})
    assert ok.status_code == 200, ok.text
    denied = await harness.http.post("/claude/v1/messages", json=BODY, headers={"x-api-key": plain,
                                                                                "user-agent": "curl/8"})
    assert denied.status_code == 403
    body = denied.json()
    assert body["type"] == "error" and body["error"]["type"] == "permission_error"
    assert "claude-code" in body["error"]["message"] and "allowed_clients" in body["error"]["message"]


async def test_denied_in_the_callers_shape(harness: Harness) -> None:
    plain, _ = await harness.add_key(allowed_clients=["codex-cli", "gemini-cli"])
    r = await harness.http.post("/openai/v1/chat/completions", json={"model": "gpt-4o", "messages": []},
                                headers={"authorization": f"Bearer {plain}", "user-agent": "claude-cli/2.0"})
    assert r.status_code == 403
    assert "allowed_clients" in r.json()["error"]["message"] and "codex-cli" in r.json()["error"]["message"]
    r = await harness.http.post("/gemini/v1beta/models/gemini-2.5-flash:generateContent", json={"contents": []},
                                headers={"x-goog-api-key": plain, "user-agent": "python-requests/2"})
    assert r.status_code == 403
    error = r.json()["error"]
    assert error["status"] == "PERMISSION_DENIED" and "allowed_clients" in error["message"]


async def test_codex_key_passes_the_rule(harness: Harness) -> None:
    plain, _ = await harness.add_key(allowed_clients=["codex-cli"])
    r = await harness.http.post("/openai/v1/chat/completions", json={"model": "gpt-4o", "messages": []},
                                headers={"authorization": f"Bearer {plain}", "originator": "codex_cli_rs"})
    # Past the permission check: no OpenAI account in this harness, so the scheduler answers.
    assert r.status_code != 403, r.text
