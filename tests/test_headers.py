"""Which client headers reach an upstream, per wire format, and which answer headers come back."""

from __future__ import annotations

from typing import AsyncIterator

import httpx
import orjson
import pytest

from aiproxy.headers import (
    ANTHROPIC,
    COMMON,
    GEMINI,
    OPENAI,
    OPENAI_RESPONSES,
    AllowList,
    allowed_for,
    client_response_headers,
    upstream_request_headers,
)
from aiproxy.routes import claude, gemini, openai
from tests.harness import Harness, start_harness

pytestmark = pytest.mark.anyio

# What Claude Code sends (2.x, with an ANTHROPIC_AUTH_TOKEN), minus the token.
CLAUDE_CODE = [
    (b"accept", b"application/json"),
    (b"anthropic-beta", b"claude-code-20250219,interleaved-thinking-2025-05-14"),
    (b"anthropic-dangerous-direct-browser-access", b"true"),
    (b"anthropic-version", b"2023-06-01"),
    (b"content-type", b"application/json"),
    (b"user-agent", b"claude-cli/2.1.197 (external, cli)"),
    (b"x-app", b"cli"),
    (b"x-claude-code-session-id", b"5b1e7c3a-0000-4000-8000-000000000001"),
    (b"x-stainless-arch", b"x64"),
    (b"x-stainless-helper-method", b"stream"),
    (b"x-stainless-lang", b"js"),
    (b"x-stainless-os", b"Linux"),
    (b"x-stainless-package-version", b"0.70.0"),
    (b"x-stainless-retry-count", b"0"),
    (b"x-stainless-runtime", b"node"),
    (b"x-stainless-runtime-version", b"v22.0.0"),
    (b"x-stainless-timeout", b"600"),
]
# What the openai Python SDK sends.
OPENAI_SDK = [
    (b"accept", b"application/json"),
    (b"content-type", b"application/json"),
    (b"user-agent", b"AsyncOpenAI/Python 1.60.0"),
    (b"x-stainless-arch", b"x64"),
    (b"x-stainless-async", b"async:asyncio"),
    (b"x-stainless-lang", b"python"),
    (b"x-stainless-os", b"Linux"),
    (b"x-stainless-package-version", b"1.60.0"),
    (b"x-stainless-read-timeout", b"600"),
    (b"x-stainless-retry-count", b"0"),
    (b"x-stainless-runtime", b"CPython"),
    (b"x-stainless-runtime-version", b"3.11.2"),
    (b"openai-beta", b"assistants=v2"),
]
# What Codex CLI adds on the Responses API.
CODEX = [
    (b"originator", b"codex_cli_rs"),
    (b"version", b"0.50.0"),
    (b"session_id", b"conv-7"),
    (b"conversation_id", b"conv-7"),
    (b"x-codex-beta-features", b"remote_compaction_v2"),
    (b"x-codex-turn-state", b"opaque"),
    (b"x-client-request-id", b"conv-7"),
]
# What google-genai and Gemini CLI send.
GENAI = [
    (b"content-type", b"application/json"),
    (b"user-agent", b"google-genai-sdk/1.0.0 gl-python/3.11.2"),
    (b"x-goog-api-client", b"google-genai-sdk/1.0.0 gl-python/3.11.2"),
    (b"x-server-timeout", b"60"),
]
# Never forwarded, to any format: the client's gateway credentials, cookies,
# where it connects from, hop-by-hop headers, its encoding wishes, our own
# session pin, billing scopes the account decides, tracing, and anything else.
NEVER = [
    (b"authorization", b"Bearer ap-gateway-key"),
    (b"x-api-key", b"ap-gateway-key"),
    (b"x-goog-api-key", b"ap-gateway-key"),
    (b"api-key", b"ap-gateway-key"),
    (b"proxy-authorization", b"Basic eDp5"),
    (b"cookie", b"session=secret"),
    (b"forwarded", b"for=10.0.0.1"),
    (b"x-forwarded-for", b"10.0.0.1"),
    (b"x-forwarded-host", b"internal.example"),
    (b"x-forwarded-proto", b"http"),
    (b"x-real-ip", b"10.0.0.1"),
    (b"host", b"gateway.test"),
    (b"connection", b"keep-alive, x-evil"),
    (b"keep-alive", b"timeout=5"),
    (b"te", b"trailers"),
    (b"trailer", b"x-evil"),
    (b"transfer-encoding", b"chunked"),
    (b"upgrade", b"websocket"),
    (b"content-length", b"12"),
    (b"accept-encoding", b"gzip, br"),
    (b"x-aiproxy-session", b"pin-me"),
    (b"openai-organization", b"org-client"),
    (b"openai-project", b"proj-client"),
    (b"chatgpt-account-id", b"acct-client"),
    (b"x-goog-user-project", b"client-project"),
    (b"anthropic-workspace-id", b"wrkspc-client"),
    (b"x-stainless-raw-response", b"true"),
    (b"traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    (b"x-evil", b"1"),
    (b"x-stainless", b"1"),
    (b"x-codex-evil", b"1"),
]
FORMATS = [ANTHROPIC, OPENAI, OPENAI_RESPONSES, GEMINI]


def names(headers: list[tuple[bytes, bytes]]) -> list[bytes]:
    return [k.lower() for k, _ in headers]


@pytest.mark.parametrize(
    ("allowed", "sent"),
    [(ANTHROPIC, CLAUDE_CODE), (OPENAI, OPENAI_SDK), (OPENAI_RESPONSES, OPENAI_SDK + CODEX), (GEMINI, GENAI)],
    ids=lambda v: v.wire if isinstance(v, AllowList) else "",
)
def test_each_format_keeps_its_clients_headers_as_they_came(allowed: AllowList, sent: list[tuple[bytes, bytes]]):
    mixed: list[tuple[bytes, bytes]] = []
    for i in range(max(len(sent), len(NEVER))):
        mixed += sent[i:i + 1] + NEVER[i:i + 1]
    assert upstream_request_headers(mixed, allowed) == sent


@pytest.mark.parametrize("allowed", FORMATS, ids=lambda a: a.wire)
def test_no_format_forwards_credentials_cookies_origin_hop_by_hop_or_strangers(allowed: AllowList):
    assert upstream_request_headers(NEVER, allowed) == []
    assert not any(allowed.admits(name) for name, _ in NEVER)


def test_names_match_in_any_case_and_keep_their_spelling():
    sent = [(b"Anthropic-Beta", b"a"), (b"X-API-Key", b"k"), (b"User-Agent", b"u"), (b"COOKIE", b"c")]
    assert upstream_request_headers(sent, ANTHROPIC) == [(b"Anthropic-Beta", b"a"), (b"User-Agent", b"u")]


def test_repeated_headers_all_pass_in_order():
    sent = [(b"anthropic-beta", b"a"), (b"x-evil", b"1"), (b"anthropic-beta", b"b")]
    assert upstream_request_headers(sent, ANTHROPIC) == [(b"anthropic-beta", b"a"), (b"anthropic-beta", b"b")]


def test_formats_do_not_lend_each_other_their_headers():
    assert upstream_request_headers(CLAUDE_CODE, OPENAI) == [
        h for h in CLAUDE_CODE if h[0] in (b"accept", b"content-type", b"user-agent") or h[0].startswith(b"x-stainless-")
    ]
    # Codex's identity goes to the Responses API only.
    assert upstream_request_headers(CODEX, OPENAI) == []
    assert upstream_request_headers(CODEX, OPENAI_RESPONSES) == CODEX
    # Google is not told about the Stainless SDKs (an OpenAI client on /gemini/v1/chat).
    assert names(upstream_request_headers(OPENAI_SDK, GEMINI)) == [b"accept", b"content-type", b"user-agent"]
    assert upstream_request_headers(GENAI, ANTHROPIC) == [h for h in GENAI if h[0] in (b"content-type", b"user-agent")]


def test_every_format_starts_from_the_common_headers():
    for allowed in FORMATS:
        assert COMMON.names <= allowed.names
    assert OPENAI.names <= OPENAI_RESPONSES.names


def test_route_specs_name_their_format():
    assert allowed_for(claude.MESSAGES.platform, claude.MESSAGES.upstream_path) is ANTHROPIC
    assert allowed_for(claude.COUNT_TOKENS.platform, claude.COUNT_TOKENS.upstream_path) is ANTHROPIC
    assert allowed_for(claude.MODELS.platform, claude.MODELS.upstream_path) is ANTHROPIC
    assert allowed_for(openai.CHAT_COMPLETIONS.platform, openai.CHAT_COMPLETIONS.upstream_path) is OPENAI
    assert allowed_for(openai.MODELS.platform, openai.MODELS.upstream_path) is OPENAI
    assert allowed_for(openai.RESPONSES.platform, openai.RESPONSES.upstream_path) is OPENAI_RESPONSES
    for spec in [*gemini.MODEL_SPECS["v1beta"].values(), *gemini.LIST_SPECS.values(), gemini.CHAT, gemini.CHAT_STREAM]:
        assert allowed_for(spec.platform, spec.upstream_path) is GEMINI
    assert allowed_for("elsewhere", "/v1/x") is COMMON


def test_answer_headers_lose_cookies_encoding_and_hop_by_hop_only():
    upstream = [
        (b"Content-Type", b"application/json"),
        (b"Set-Cookie", b"sid=1"),
        (b"content-encoding", b"gzip"),
        (b"transfer-encoding", b"chunked"),
        (b"connection", b"close"),
        (b"content-length", b"10"),
        (b"request-id", b"req_1"),
        (b"anthropic-ratelimit-requests-remaining", b"9"),
    ]
    assert client_response_headers(upstream) == [
        (b"content-type", b"application/json"),
        (b"request-id", b"req_1"),
        (b"anthropic-ratelimit-requests-remaining", b"9"),
    ]


# Through the whole gateway: what each upstream is sent from each route.

OPENAI_KEY = "sk-openai-upstream"
GEMINI_KEY = "AIza-gemini-upstream"
USAGE_ANTHROPIC = {"input_tokens": 1, "output_tokens": 1}
GEMINI_ANSWER = {
    "candidates": [{"content": {"role": "model", "parts": [{"text": "hi"}]}, "finishReason": "STOP", "index": 0}],
    "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1, "totalTokenCount": 2},
}


class Recorder:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path.endswith("/messages"):
            body = {"id": "m", "type": "message", "role": "assistant", "model": "m", "content": [],
                    "usage": USAGE_ANTHROPIC}
        elif path.endswith("/chat/completions"):
            body = {"id": "c", "object": "chat.completion", "model": "m", "choices": [],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
        elif path.endswith("/responses"):
            body = {"id": "r", "object": "response", "status": "completed", "output": [],
                    "usage": {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2}}
        else:
            body = GEMINI_ANSWER
        return httpx.Response(200, content=orjson.dumps(body), headers={"content-type": "application/json",
                                                                        "set-cookie": "upstream=1"})


@pytest.fixture
async def gw(anyio_backend: str) -> AsyncIterator[tuple[Harness, Recorder]]:
    recorder = Recorder()
    async with start_harness(httpx.MockTransport(recorder)) as h:
        await h.add_account({"api_key": OPENAI_KEY}, name="oa", platform="openai", type="openai")
        await h.add_account({"api_key": GEMINI_KEY}, name="studio", platform="gemini", type="gemini-api")
        yield h, recorder


ROUTES = [
    ("/claude/v1/messages", {"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]},
     ANTHROPIC, CLAUDE_CODE, [b"x-api-key", b"anthropic-version"]),
    ("/openai/v1/chat/completions", {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
     OPENAI, OPENAI_SDK, [b"authorization"]),
    ("/responses", {"model": "gpt-5-codex", "input": "hi"}, OPENAI_RESPONSES, OPENAI_SDK + CODEX, [b"authorization"]),
    ("/gemini/v1beta/models/gemini-2.5-flash:generateContent", {"contents": [{"parts": [{"text": "hi"}]}]},
     GEMINI, GENAI, [b"x-goog-api-key"]),
    ("/gemini/v1/chat", {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]},
     GEMINI, OPENAI_SDK, [b"x-goog-api-key"]),
]


@pytest.mark.parametrize(("path", "body", "allowed", "sent", "account_headers"), ROUTES, ids=[r[0] for r in ROUTES])
async def test_upstream_sees_only_allowed_client_headers_and_the_accounts_own(
    gw: tuple[Harness, Recorder], path: str, body: dict, allowed: AllowList, sent: list, account_headers: list
):
    h, recorder = gw
    # The client sends its format's headers and every one that no format
    # admits, but for one key (the real one) and the framing httpx sets itself.
    client_headers = [(k.decode(), v.decode()) for k, v in sent + NEVER
                      if k not in (b"host", b"content-length", b"transfer-encoding", b"connection",
                                   b"authorization", b"x-api-key", b"x-goog-api-key", b"api-key")]
    client_headers.append(("x-api-key" if path.startswith("/claude") else "authorization",
                           h.key if path.startswith("/claude") else f"Bearer {h.key}"))
    r = await h.http.post(path, content=orjson.dumps(body), headers=client_headers)
    assert r.status_code == 200, r.text
    assert "set-cookie" not in r.headers

    [seen] = recorder.requests
    upstream = seen.headers
    expected = [(k, v) for k, v in sent if allowed.admits(k)]
    for name, value in expected:
        assert upstream.get_list(name.decode()) == [value.decode()], name
    for name, value in NEVER:
        # Only what the adapter or httpx itself sets may carry these names, never the client's values.
        assert value.decode() not in upstream.get_list(name.decode()), name
    assert h.key not in str(upstream.raw)
    for name in account_headers:
        assert name.decode() in upstream
    # Nothing else came from the client: every name upstream is admitted, or set by the adapter or httpx.
    own = {b"host", b"content-length", b"accept-encoding", b"connection", *account_headers}
    assert {k.lower() for k, _ in upstream.raw} - own <= allowed.names


async def test_a_flood_of_names_reaches_the_upstream_as_the_allow_list_only(anyio_backend: str):
    # The bound lifted, so the allow-list alone decides: of 5,000 distinct
    # names (some in the SDKs' own namespaces) only the admitted ones go on, so
    # what httpx and aiohttp do per distinct name stays bounded.
    recorder = Recorder()
    async with start_harness(httpx.MockTransport(recorder), max_header_count=10**6, max_header_bytes=10**8) as h:
        flood = [(b"x-stainless-%d" % i if i % 2 else b"x-codex-%d" % i, b"v") for i in range(5000)]
        headers = [(b"host", b"gateway.test"), (b"x-api-key", h.key.encode()), (b"content-type", b"application/json"),
                   *flood, (b"anthropic-beta", b"b1")]
        body = orjson.dumps({"model": "claude-sonnet-4-5", "max_tokens": 8,
                             "messages": [{"role": "user", "content": "hi"}]})
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": "/claude/v1/messages", "raw_path": b"/claude/v1/messages",
                 "query_string": b"", "root_path": "", "headers": headers, "client": ("127.0.0.1", 1),
                 "server": ("gateway.test", 80)}
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        sent: list[dict] = []

        async def receive() -> dict:
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            sent.append(message)

        await h.app(scope, receive, send)
        assert sent[0]["status"] == 200
        [seen] = recorder.requests
        assert {k.lower() for k, _ in seen.headers.raw} == {
            b"host", b"accept", b"accept-encoding", b"connection", b"user-agent", b"content-length",
            b"content-type", b"x-api-key", b"anthropic-version", b"anthropic-beta"}
