"""session_key: which conversation a request belongs to, per client, turn after turn."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from aiproxy.scheduler.sessions import session_key

CC_SESSION = "3f0c2a5e-8d41-4b7a-9c1e-2f6d8a0b4c71"
CC_USER_JSON = json.dumps({
    "device_id": "a" * 64,
    "account_uuid": "5b0e7c3a-1d2f-4e6a-8b9c-0d1e2f3a4b5c",
    "session_id": CC_SESSION,
})
CC_USER_OLD = f"user_{'b' * 64}_account_5b0e7c3a-1d2f-4e6a-8b9c-0d1e2f3a4b5c_session_{CC_SESSION}"
CC_HEADERS = {
    "x-api-key": "ap-test",
    "anthropic-version": "2023-06-01",
    "anthropic-beta": "claude-code-20250219,context-1m-2025-08-07,interleaved-thinking-2025-05-14",
    "x-app": "cli",
    "x-claude-code-session-id": CC_SESSION,
    "user-agent": "claude-cli/2.1.197 (external, sdk-cli)",
}
CODEX_SESSION = "019a8f3c-7e21-7d40-b6a5-3c9e1f2d4a60"
CODEX_HEADERS = {
    "authorization": "Bearer ap-test",
    "originator": "codex_exec",
    "user-agent": "codex_exec/0.169.0 (Ubuntu 24.4.0; x86_64) xterm",
    "session-id": CODEX_SESSION,
    "thread-id": CODEX_SESSION,
    "x-client-request-id": "r-1",
    "accept": "text/event-stream",
}
GEMINI_HEADERS = {
    "x-goog-api-key": "ap-test",
    "x-goog-api-client": "google-genai-sdk/1.30.0 gl-node/v20.20.2",
    "user-agent": "GeminiCLI-tui/0.61.0/gemini-3.8-flash (linux; x64; terminal)",
}

MESSAGES = "/v1/messages?beta=true"
RESPONSES = "/v1/responses"
CHAT = "/v1/chat/completions"
GEMINI_STREAM = "/v1beta/models/gemini-3.8-flash:streamGenerateContent?alt=sse"


def claude_code_body(prompt: str = "say hi", turns: int = 0, user_id: str = CC_USER_JSON,
                     cch: str = "a1b2c") -> dict[str, Any]:
    """Claude Code's request at turn `turns` (0: the first), cache breakpoint on the newest message."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": [
        {"type": "text", "text": "<system-reminder>\nAs you answer, use this context: …\n</system-reminder>"},
        {"type": "text", "text": prompt},
    ]}]
    for i in range(turns):
        messages.append({"role": "assistant", "content": [
            {"type": "thinking", "thinking": "…", "signature": "sig"},
            {"type": "tool_use", "id": f"toolu_{i}", "name": "Bash", "input": {"command": "ls"}},
        ]})
        messages.append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": f"toolu_{i}", "content": "a.py\nb.py"},
        ]})
    messages[-1]["content"][-1]["cache_control"] = {"type": "ephemeral"}
    return {
        "model": "claude-opus-4-8",
        "max_tokens": 64000,
        "stream": True,
        "thinking": {"type": "adaptive"},
        "system": [
            {"type": "text",
             "text": f"x-anthropic-billing-header: cc_version=2.1.197.abc; cc_entrypoint=sdk-cli; cch={cch};"},
            {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude.",
             "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "You are an interactive CLI tool… " * 200, "cache_control": {"type": "ephemeral"}},
        ],
        "tools": [{"name": "Bash", "description": "Run a command", "input_schema": {"type": "object"}}],
        "metadata": {"user_id": user_id},
        "messages": messages,
    }


def codex_body(prompt: str = "say hi", turns: int = 0, cache_key: str | None = CODEX_SESSION) -> dict[str, Any]:
    items: list[dict[str, Any]] = [
        {"type": "message", "role": "developer",
         "content": [{"type": "input_text", "text": "<permissions instructions>sandbox: workspace-write"}]},
        {"type": "message", "role": "user",
         "content": [{"type": "input_text", "text": "<environment_context>cwd /tmp/x</environment_context>"}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": prompt}]},
    ]
    for i in range(turns):
        items += [
            {"type": "reasoning", "summary": [], "encrypted_content": "gAAAA" + "x" * 5000},
            {"type": "function_call", "call_id": f"call_{i}", "name": "shell", "arguments": '{"command":["ls"]}'},
            {"type": "function_call_output", "call_id": f"call_{i}", "output": "a.py"},
        ]
    body: dict[str, Any] = {
        "model": "gpt-5", "instructions": "You are Codex, based on GPT-5. …", "input": items,
        "tools": [{"type": "function", "name": "shell", "parameters": {}}],
        "tool_choice": "auto", "parallel_tool_calls": False, "reasoning": {"summary": "auto"},
        "store": False, "stream": True, "include": ["reasoning.encrypted_content"],
        "client_metadata": {"x": "y"},
    }
    if cache_key is not None:
        body["prompt_cache_key"] = cache_key
    return body


def chat_body(prompt: str = "Hello", turns: int = 0, **extra: Any) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": prompt},
    ]
    for i in range(turns):
        messages += [{"role": "assistant", "content": f"answer {i}"}, {"role": "user", "content": f"more {i}"}]
    return {"model": "gpt-4o", "messages": messages, "stream": turns % 2 == 0, "temperature": 0.1 * turns, **extra}


def gemini_body(prompt: str = "say hi", turns: int = 0) -> dict[str, Any]:
    contents: list[dict[str, Any]] = [
        {"role": "user", "parts": [{"text": "This is the Gemini CLI. We are setting up the context for our chat."}]},
        {"role": "model", "parts": [{"text": "Got it. Thanks for the context!"}]},
        {"role": "user", "parts": [{"text": prompt}]},
    ]
    for i in range(turns):
        contents += [
            {"role": "model", "parts": [{"functionCall": {"name": "ls", "args": {}}, "thoughtSignature": "c2ln"}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "ls", "response": {"output": str(i)}}}]},
        ]
    return {
        "contents": contents,
        "systemInstruction": {"role": "user", "parts": [{"text": "You are an interactive CLI agent…"}]},
        "tools": [{"functionDeclarations": [{"name": "ls"}]}],
        "generationConfig": {"temperature": 0, "topP": 1, "thinkingConfig": {"includeThoughts": True}},
    }


# --- per client: the key and its source -------------------------------------------------------

@pytest.mark.parametrize("platform, headers, body, path, expected", [
    ("claude", CC_HEADERS, claude_code_body(), MESSAGES, f"claude:cc:{CC_SESSION}"),
    # Without the header: the session inside metadata.user_id, new (JSON) and old format.
    ("claude", {"x-api-key": "k"}, claude_code_body(), MESSAGES, f"claude:cc:{CC_SESSION}"),
    ("claude", {"x-api-key": "k"}, claude_code_body(user_id=CC_USER_OLD), MESSAGES, f"claude:cc:{CC_SESSION}"),
    ("claude", CC_HEADERS, {"model": "m", "messages": [{"role": "user", "content": "x"}]},
     "/v1/messages/count_tokens", f"claude:cc:{CC_SESSION}"),
    ("openai", CODEX_HEADERS, codex_body(), RESPONSES, f"openai:codex:{CODEX_SESSION}"),
    ("openai", {"session_id": "s-1", "conversation_id": "c-1"}, codex_body(), RESPONSES, "openai:codex:s-1"),
    ("openai", {"thread-id": "t-1"}, codex_body(), RESPONSES, "openai:codex:t-1"),
    ("openai", {"conversation_id": "c-1"}, codex_body(), RESPONSES, "openai:codex:c-1"),
    ("openai", {}, codex_body(cache_key="pk-9"), RESPONSES, "openai:pck:pk-9"),
    ("openai", {}, chat_body(prompt_cache_key="pk-7", user="alice"), CHAT, "openai:pck:pk-7"),
    ("gemini", {}, {"model": "gemini-2.5-pro", "project": "p", "user_prompt_id": "u-1",
                    "request": {**gemini_body(), "session_id": "gs-1"}}, "/v1internal:generateContent",
     "gemini:ca:gs-1"),
])
def test_client_identifiers(platform, headers, body, path, expected):
    assert session_key(platform, headers, body, path) == expected


@pytest.mark.parametrize("platform, body, path", [
    ("claude", claude_code_body(user_id="user-1234"), MESSAGES),  # an app's user id, not a session
    ("openai", chat_body(user="alice"), CHAT),
    ("openai", codex_body(cache_key=None), RESPONSES),
    ("gemini", gemini_body(), GEMINI_STREAM),
])
def test_no_identifier_falls_back_to_hash(platform, body, path):
    key = session_key(platform, {}, body, path)
    assert key is not None and key.startswith(f"{platform}:h:") and len(key) == len(platform) + 3 + 64


def test_user_is_not_a_conversation():
    # Two conversations of one person: different keys, though `user` is the same.
    a = session_key("openai", {}, chat_body("first", user="alice"), CHAT)
    b = session_key("openai", {}, chat_body("second", user="alice"), CHAT)
    assert a != b


def test_claude_user_id_shapes():
    def key(user_id: str) -> str | None:
        return session_key("claude", {}, {"metadata": {"user_id": user_id}, "messages": []}, MESSAGES)
    assert key('{"device_id": "d", "session_id": "s-2"}') == "claude:cc:s-2"
    assert key("user_x_account__session_s-3") == "claude:cc:s-3"
    # An unknown shape that says "session" is used whole (digested: not id-shaped).
    assert key("my session 42") is not None and key("my session 42").startswith("claude:cc:")
    assert key('{"device_id": "d"}') is None  # no session, no messages
    assert key("{not json") is None


# --- turn N and N+1 ---------------------------------------------------------------------------

@pytest.mark.parametrize("platform, make, path", [
    ("claude", lambda p, t: claude_code_body(p, t, user_id="user-1", cch=f"c{t}"), MESSAGES),
    ("openai", lambda p, t: codex_body(p, t, cache_key=None), RESPONSES),
    ("openai", chat_body, CHAT),
    ("gemini", gemini_body, GEMINI_STREAM),
])
def test_hash_follows_turns_and_tells_conversations_apart(platform, make, path):
    keys = {session_key(platform, {}, make("say hi", t), path) for t in range(4)}
    assert len(keys) == 1 and None not in keys
    assert session_key(platform, {}, make("something else", 0), path) not in keys


def test_hash_ignores_sampling_and_cache_markers():
    a = claude_code_body(user_id="user-1")
    b = copy.deepcopy(a)
    b.update(max_tokens=100, temperature=0.5, stream=False)
    for block in b["system"]:
        block.pop("cache_control", None)
    b["system"][0]["text"] = "x-anthropic-billing-header: cc_version=2.1.198; cch=zzz;"
    b["messages"][0]["content"][0]["cache_control"] = {"type": "ephemeral", "ttl": "1h"}
    assert session_key("claude", {}, a, MESSAGES) == session_key("claude", {}, b, MESSAGES)
    b["system"][1]["text"] = "another system prompt"
    assert session_key("claude", {}, a, MESSAGES) != session_key("claude", {}, b, MESSAGES)


def test_string_and_block_content_are_one_conversation():
    s = {"system": "Be brief.", "messages": [{"role": "user", "content": "hi"}]}
    b = {"system": [{"type": "text", "text": "Be brief."}],
         "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}
    assert session_key("claude", {}, s, MESSAGES) == session_key("claude", {}, b, MESSAGES)
    r1 = {"instructions": "x", "input": "hi"}
    r2 = {"instructions": "x", "input": [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}]}
    assert session_key("openai", {}, r1, RESPONSES) == session_key("openai", {}, r2, RESPONSES)


def test_images_count_by_digest():
    def body(data: str) -> dict[str, Any]:
        return {"messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}},
            {"type": "text", "text": "what is this?"}]}]}
    a, b = "A" * 1_000_000, "A" * 999_999 + "B"
    assert session_key("claude", {}, body(a), MESSAGES) == session_key("claude", {}, body(a), MESSAGES)
    assert session_key("claude", {}, body(a), MESSAGES) != session_key("claude", {}, body(b), MESSAGES)


def test_chat_system_prompt_counts_and_later_developer_message_does_not():
    a = chat_body("hi")
    b = chat_body("hi")
    b["messages"][0]["content"] = "You are a pirate."
    assert session_key("openai", {}, a, CHAT) != session_key("openai", {}, b, CHAT)
    c = chat_body("hi", turns=1)
    c["messages"].append({"role": "developer", "content": "mid-conversation note"})
    assert session_key("openai", {}, a, CHAT) == session_key("openai", {}, c, CHAT)


def test_gemini_count_tokens_and_code_assist_envelope_hash_like_the_native_body():
    native = session_key("gemini", {}, gemini_body(), GEMINI_STREAM)
    wrapped = {"model": "m", "project": "p", "user_prompt_id": "u-1", "request": gemini_body()}
    assert session_key("gemini", {}, wrapped, "/v1internal:generateContent") == native
    count = {"generateContentRequest": {"model": "models/m", **gemini_body()}}
    assert session_key("gemini", {}, count, "/v1beta/models/m:countTokens") == native
    # user_prompt_id changes every prompt: never the key.
    wrapped2 = {**wrapped, "user_prompt_id": "u-2"}
    assert session_key("gemini", {}, wrapped2, "/v1internal:generateContent") == native


def test_gemini_snake_case_system_instruction():
    camel = gemini_body()
    snake = {**camel, "system_instruction": camel["systemInstruction"]}
    del snake["systemInstruction"]
    assert session_key("gemini", {}, camel, GEMINI_STREAM) == session_key("gemini", {}, snake, GEMINI_STREAM)


def test_gemini_cli_conversations_in_one_folder_differ():
    # Same environment-context opening and canned answer; only the prompt differs.
    assert session_key("gemini", {}, gemini_body("a"), GEMINI_STREAM) != session_key(
        "gemini", {}, gemini_body("b"), GEMINI_STREAM)


def test_platform_namespaces_keys():
    body = {"messages": [{"role": "user", "content": "hi"}]}
    assert session_key("claude", {}, body, MESSAGES) != session_key("openai", {}, body, CHAT)


# --- precedence -------------------------------------------------------------------------------

def test_explicit_header_wins_everywhere():
    h = {"x-aiproxy-session": "mine"}
    assert session_key("claude", {**CC_HEADERS, **h}, claude_code_body(), MESSAGES) == "claude:x:mine"
    assert session_key("openai", {**CODEX_HEADERS, **h}, codex_body(), RESPONSES) == "openai:x:mine"
    assert session_key("gemini", {**GEMINI_HEADERS, **h}, gemini_body(), GEMINI_STREAM) == "gemini:x:mine"


def test_claude_code_header_beats_metadata_and_codex_header_beats_cache_key():
    body = claude_code_body(user_id='{"session_id": "from-metadata"}')
    assert session_key("claude", {"x-claude-code-session-id": "from-header"}, body, MESSAGES) == "claude:cc:from-header"
    assert session_key("openai", {"session-id": "h"}, codex_body(cache_key="b"), RESPONSES) == "openai:codex:h"


def test_client_headers_count_only_on_their_platform():
    # A Codex-style header sent to /claude or a Claude Code header to /openai is no such client.
    body = {"messages": [{"role": "user", "content": "hi"}]}
    assert session_key("claude", {"session_id": "s"}, body, MESSAGES).startswith("claude:h:")
    assert session_key("openai", {"x-claude-code-session-id": "s"}, body, CHAT).startswith("openai:h:")


def test_odd_ids_are_digested():
    key = session_key("openai", {"x-aiproxy-session": "a b\x00" + "c" * 500}, {}, CHAT)
    assert key is not None and key.startswith("openai:x:") and len(key) == len("openai:x:") + 64
    assert session_key("openai", {"x-aiproxy-session": "  "}, chat_body(), CHAT).startswith("openai:h:")


# --- nothing to go on, and malformed input ----------------------------------------------------

@pytest.mark.parametrize("platform, headers, body, path", [
    ("claude", CC_HEADERS, None, "/v1/models"),  # GET: no body
    ("openai", {"x-aiproxy-session": "s"}, None, "/v1/models"),
    ("claude", {}, {"model": "m", "messages": []}, "/v1/messages/count_tokens"),
    ("claude", {}, {"model": "m"}, MESSAGES),
    ("openai", {}, {"model": "m", "input": []}, RESPONSES),
    ("openai", {}, {"model": "m", "input": [{"type": "function_call_output", "call_id": "c", "output": "x"}],
                    "previous_response_id": "resp_1"}, RESPONSES),
    ("gemini", {}, {"contents": []}, GEMINI_STREAM),
    ("openai", CC_HEADERS, {"messages": [{"role": "user", "content": "hi"}]}, "/v1/models"),
])
def test_none_when_nothing_identifies_a_conversation(platform, headers, body, path):
    assert session_key(platform, headers, body, path) is None


@pytest.mark.parametrize("body", [
    [], "text", 42,
    {"messages": "nope"}, {"messages": [None, 3, "x"]}, {"messages": [{"role": 5, "content": {"a": [1]}}]},
    {"system": {"weird": True}, "messages": [{"role": "user", "content": [None, 1, {"type": "text", "text": 3}]}]},
    {"metadata": "x", "messages": [{"role": "user"}]}, {"metadata": {"user_id": 7}},
    {"input": 5}, {"input": [1, 2]}, {"input": "hi", "instructions": ["a", {"b": None}]},
    {"contents": [1, {"parts": "x"}]}, {"contents": "x"}, {"request": "x"}, {"request": {"contents": None}},
    {"generateContentRequest": 5}, {"prompt_cache_key": 5, "messages": [{"role": "user", "content": "hi"}]},
    {"messages": [{"role": "user", "content": {1: "non-str key"}}]},
    {"messages": [{"role": "user", "content": 2**70}]},
    {"messages": [{"role": "user", "content": "\ud800"}]},
    {"messages": [{"role": ["user"], "content": [{"type": ["text"], "text": "x"}]}]},
    {"contents": [{"role": {"r": 1}, "parts": [{"text": None}]}], "systemInstruction": 5},
])
@pytest.mark.parametrize("platform", ["claude", "openai", "gemini", "other"])
def test_malformed_never_raises(platform, body):
    headers: Any = {"x-claude-code-session-id": 5, "session_id": None}  # not even strings
    result = session_key(platform, headers, body, RESPONSES)
    assert result is None or isinstance(result, str)


def test_deep_nesting_never_raises():
    deep: Any = "x"
    for _ in range(5000):
        deep = [deep]
    assert session_key("claude", {}, {"messages": [{"role": "user", "content": deep}]}, MESSAGES)
