"""Hostile model names at every route and every adapter, through the app: the fake upstream's
request log shows none reaching an upstream as path syntax, and the ones a URL cannot carry
answered 400 in the caller's API shape with no upstream call.

One fake (an httpx.MockTransport) stands for every upstream and logs each request as it left
the gateway's client; the assertions read `request.url.raw_path`, the bytes on the wire.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator
from urllib.parse import quote, unquote

import anyio
import httpx
import pytest

from aiproxy.settings import UpstreamURLs
from tests.harness import Harness, start_harness

pytestmark = pytest.mark.anyio

ANTHROPIC = "http://anthropic.test"
OPENAI = "http://openai.test"
GEMINI = "http://gemini.test"
CODE_ASSIST = "http://code-assist.test"
CODEX = "http://codex.test/backend-api/codex"
FLASH = "gemini-2.5-flash"

# What a client may put where a model goes. Every one of them is refused by every kind of
# URL value, except those named in a case's `accepted` (a `/` is escaped as %2F in Azure
# deployments and Bedrock ids, a `:` kept in Bedrock ids: one segment either way).
PAYLOADS = {
    "dotdot-files": "../../v1beta/files?",
    "dotdot": "..",
    "dot": ".",
    "dotdot-slash": "../x",
    "dotdot-escaped": "..%2Fx",
    "escaped-slash": "a%2Fb",
    "escaped-nul": "a%00b",
    "escaped-dots": "%2e%2e",
    "question": f"{FLASH}?x=1",
    "hash": f"{FLASH}#x",
    "veo": "veo-3.0-generate-001:predictLongRunning?x=",
    "colon": f"{FLASH}:predictLongRunning",
    "slash": "x/y",
    "nul": "a\x00b",
    "crlf": "a\r\nX-Injected: 1",
    "tab": "a\tb",
    "del": "a\x7f",
    "escape": "a\x1b[31m",
    "unicode": "модель",
    "bidi": "gemini\u202e",
    "backslash": "a\\..\\b",
    "1mb": "m" * (1 << 20),
}


# --- one fake for every upstream -------------------------------------------------------------

def _message(model: str) -> dict[str, Any]:
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn",
            "usage": {"input_tokens": 3, "output_tokens": 1}}


_GEMINI = {"candidates": [{"content": {"role": "model", "parts": [{"text": "ok"}]}, "finishReason": "STOP"}],
           "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1, "totalTokenCount": 4},
           "modelVersion": FLASH}
_RESPONSE = {"id": "resp_1", "object": "response", "status": "completed", "model": "m", "output": [],
             "usage": {"input_tokens": 3, "output_tokens": 1, "total_tokens": 4}}


@dataclass
class Upstream:
    seen: list[httpx.Request] = field(default_factory=list)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        path = request.url.path
        if request.url.host == "codex.test":
            event = {"type": "response.completed", "response": _RESPONSE}
            sse = f"event: response.completed\ndata: {json.dumps(event)}\n\n".encode()
            return httpx.Response(200, content=sse, headers={"content-type": "text/event-stream"})
        if request.url.host == "code-assist.test":
            if path.endswith(":countTokens"):
                return httpx.Response(200, json={"totalTokens": 3})
            if path.endswith(":streamGenerateContent"):
                sse = b"data: " + json.dumps({"response": _GEMINI}).encode() + b"\n\n"
                return httpx.Response(200, content=sse, headers={"content-type": "text/event-stream"})
            return httpx.Response(200, json={"response": _GEMINI})
        if path.endswith("/count_tokens"):
            return httpx.Response(200, json={"input_tokens": 3})
        if path.endswith("/messages") or path.endswith("/invoke"):
            return httpx.Response(200, json=_message("m"))
        if path.endswith("/chat/completions"):
            return httpx.Response(200, json={
                "id": "c1", "object": "chat.completion", "model": "m",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}})
        if path.endswith("/responses"):
            return httpx.Response(200, json=_RESPONSE)
        if path.endswith(":countTokens"):
            return httpx.Response(200, json={"totalTokens": 3})
        if path.endswith(":streamGenerateContent"):
            return httpx.Response(200, content=json.dumps([_GEMINI]).encode(),
                                  headers={"content-type": "application/json"})
        if path.endswith(":generateContent"):
            return httpx.Response(200, json=_GEMINI)
        return httpx.Response(200, json={"name": "models/" + FLASH})  # GET models/{model}


# --- the accounts, one adapter each ----------------------------------------------------------

FRESH = {"access_token": "at-1", "refresh_token": "rt-1", "expires_at": int(time.time()) + 3600}
CASES: dict[str, dict[str, Any]] = {
    "claude-console": dict(platform="claude", credentials={"api_key": "sk-ant"}),
    "claude-official": dict(platform="claude", credentials=FRESH),
    "ccr": dict(platform="claude", credentials={"api_key": "sk-ccr"}, base_url="http://ccr.test"),
    "bedrock": dict(platform="claude", credentials={"api_key": "bedrock-key"},
                    base_url="http://bedrock.test/{region}", options={"region": "us-east-1"}),
    "openai": dict(platform="openai", credentials={"api_key": "sk-openai"}),
    "azure-openai": dict(platform="openai", credentials={"api_key": "azure-key"}, base_url="http://azure.test"),
    "openai-responses-key": dict(type="openai-responses", platform="openai", credentials={"api_key": "sk-r"}),
    "openai-responses-codex": dict(type="openai-responses", platform="openai",
                                   credentials={**FRESH, "chatgpt_account_id": "acct-1"}),
    "gemini-api": dict(platform="gemini", credentials={"api_key": "AIza-upstream"}),
    "gemini-oauth": dict(platform="gemini", credentials=FRESH, options={"project_id": "proj-1"}),
}


@dataclass
class Gateway:
    h: Harness
    upstream: Upstream


async def gateway(case: str, **extra: Any) -> AsyncIterator[Gateway]:
    upstream = Upstream()
    urls = UpstreamURLs(anthropic=ANTHROPIC, openai=OPENAI, gemini=GEMINI, code_assist=CODE_ASSIST, codex=CODEX)
    async with start_harness(upstream.transport(), upstream=urls, seed_account=False) as h:
        fields = {**CASES[case], **extra}
        fields.setdefault("type", case)
        await h.add_account(name=case, **fields)
        yield Gateway(h, upstream)


# --- what each route is sent, and what its upstream request must look like -------------------

MESSAGES = {"max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
CHAT = {"messages": [{"role": "user", "content": "hi"}]}
RESPONSES = {"input": "hi"}
GEMINI_BODY = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


@dataclass(frozen=True)
class Expect:
    """The upstream request a route makes for an account: its raw path is `prefix`, or
    `prefix` + one segment (the value, escaped) + `suffix` when the value is in the URL."""

    prefix: bytes
    suffix: bytes | None = None  # None: the value is not in the URL at all
    accepted: frozenset[str] = frozenset()  # payloads such a URL value can be
    body_model: bool = True  # the value goes on in the body's `model`
    # Every payload refused: the route checks the model as the Gemini model it names
    # (the chat route), or the adapter serves nothing there (Bedrock's count_tokens).
    refuses_all: bool = False


ROUTES: dict[str, list[tuple[str, dict[str, Any], Expect]]] = {
    "claude-console": [("/claude/v1/messages", MESSAGES, Expect(b"/v1/messages")),
                       ("/claude/v1/messages/count_tokens", MESSAGES, Expect(b"/v1/messages/count_tokens"))],
    "claude-official": [("/claude/v1/messages", MESSAGES, Expect(b"/v1/messages")),
                        ("/claude/v1/messages/count_tokens", MESSAGES, Expect(b"/v1/messages/count_tokens"))],
    "ccr": [("/claude/v1/messages", MESSAGES, Expect(b"/v1/messages")),
            ("/claude/v1/messages/count_tokens", MESSAGES, Expect(b"/v1/messages/count_tokens"))],
    "bedrock": [("/claude/v1/messages", MESSAGES,
                 Expect(b"/us-east-1/model/", b"/invoke", frozenset({"slash", "colon"}), body_model=False)),
                ("/claude/v1/messages/count_tokens", MESSAGES, Expect(b"", refuses_all=True))],
    "openai": [(path, body, Expect(upstream))
               for path, body, upstream in [("/openai/v1/chat/completions", CHAT, b"/v1/chat/completions"),
                                            ("/openai/v1/responses", RESPONSES, b"/v1/responses"),
                                            ("/responses", RESPONSES, b"/v1/responses"),
                                            ("/v1/responses", RESPONSES, b"/v1/responses")]],
    "azure-openai": [("/openai/v1/chat/completions", CHAT,
                      Expect(b"/openai/deployments/", b"/chat/completions", frozenset({"slash"}), body_model=False)),
                     *[(path, RESPONSES, Expect(b"/openai/responses"))
                       for path in ("/openai/v1/responses", "/responses", "/v1/responses")]],
    "openai-responses-key": [(path, RESPONSES, Expect(b"/v1/responses"))
                             for path in ("/openai/v1/responses", "/responses", "/v1/responses")],
    "openai-responses-codex": [(path, RESPONSES, Expect(b"/backend-api/codex/responses"))
                               for path in ("/openai/v1/responses", "/responses", "/v1/responses")],
    # The chat route's model is the Gemini model of the upstream URL: no payload can be one.
    "gemini-api": [("/gemini/v1/chat", CHAT, Expect(b"/v1beta/models/", b":generateContent"))],
    "gemini-oauth": [("/gemini/v1/chat", CHAT, Expect(b"/v1internal:generateContent", refuses_all=True))],
}
COMBOS = [(case, i) for case, routes in ROUTES.items() for i in range(len(routes))]


def auth(h: Harness) -> dict[str, str]:
    return {"authorization": f"Bearer {h.key}", "x-api-key": h.key, "x-goog-api-key": h.key}


def client_model(case: str, payload: str) -> str:
    if case == "ccr":
        return "ccr," + payload  # the routing prefix, stripped before the upstream
    if case == "bedrock":
        # Bedrock takes a client's model as the id only when it looks like one.
        return payload + "/anthropic.claude"
    return payload


def upstream_model(case: str, payload: str) -> str:
    return payload + "/anthropic.claude" if case == "bedrock" else payload


def assert_error_shape(route: str, r: httpx.Response, status: int) -> None:
    assert r.status_code == status, (route, r.status_code, r.text[:300])
    body = r.json()
    if route.startswith("/claude"):
        assert body["type"] == "error" and body["error"]["message"], body
    elif route.startswith("/gemini/v1/chat") or not route.startswith("/gemini"):
        assert body["error"]["message"] and "type" in body["error"] and "status" not in body["error"], body
    else:
        error = body["error"]
        assert error["code"] == status and error["status"] and error["message"], body
    assert len(r.content) < 2000  # a 1 MB name is not echoed back


def assert_one_segment(raw_path: bytes, expect: Expect, value: str) -> None:
    """The value's own bytes are one whole segment between the route's fixed parts."""
    assert expect.suffix is not None
    raw_path = raw_path.partition(b"?")[0]  # httpx's raw_path carries the query
    assert raw_path.startswith(expect.prefix) and raw_path.endswith(expect.suffix), raw_path
    segment = raw_path[len(expect.prefix):len(raw_path) - len(expect.suffix)]
    assert b"/" not in segment and b"?" not in segment and b"#" not in segment, raw_path
    assert unquote(segment.decode("ascii")) == value, raw_path
    assert segment not in (b".", b"..") and unquote(segment.decode()).lower() not in (".", "..")


@pytest.mark.parametrize("case, index", COMBOS, ids=[f"{c}-{ROUTES[c][i][0]}" for c, i in COMBOS])
async def test_body_models_never_become_path_syntax(case: str, index: int, anyio_backend: str):
    route, body, expect = ROUTES[case][index]
    async for gw in gateway(case):
        for name, payload in PAYLOADS.items():
            before = len(gw.upstream.seen)
            r = await gw.h.http.post(route, json={**body, "model": client_model(case, payload)}, headers=auth(gw.h))
            sent = gw.upstream.seen[before:]
            value = upstream_model(case, payload)
            in_url = expect.suffix is not None
            if expect.refuses_all or (in_url and name not in expect.accepted):
                assert_error_shape(route, r, 400)
                assert sent == [], (name, [s.url for s in sent])
                continue
            assert r.status_code == 200, (name, r.status_code, r.text[:300])
            [request] = sent
            if in_url:
                assert_one_segment(request.url.raw_path, expect, value)
            else:
                assert request.url.raw_path.split(b"?")[0] == expect.prefix, (name, request.url.raw_path)
            assert payload not in request.url.query.decode("latin-1"), name
            if expect.body_model:
                assert json.loads(request.content)["model"] == value, name  # it went as data


async def call_app(h: Harness, method: str, path: str, body: bytes) -> httpx.Response:
    """One request straight into the app as a server would hand it over, `path` decoded:
    no client in between to resolve its dot segments or refuse its length."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "raw_path": quote(path).encode(), "root_path": "",
             "query_string": b"", "client": ("127.0.0.1", 50000), "server": ("gateway.test", 80),
             "headers": [(b"host", b"gateway.test"), (b"content-type", b"application/json"),
                         (b"x-goog-api-key", h.key.encode())]}
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await anyio.sleep_forever()  # no disconnect: the relay's watcher waits here until cancelled
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await h.app(scope, receive, send)
    return httpx.Response(status, content=b"".join(chunks))


VERSIONS = ("v1beta", "v1")
METHODS = {"generateContent": "POST", "streamGenerateContent": "POST", "countTokens": "POST", "": "GET"}


@pytest.mark.parametrize("case", ["gemini-api", "gemini-oauth"])
async def test_gemini_path_models_are_refused_before_any_upstream_call(case: str, anyio_backend: str):
    async for gw in gateway(case):
        for version in VERSIONS:
            for method, verb in METHODS.items():
                for name, payload in PAYLOADS.items():
                    path = f"/gemini/{version}/models/{payload}" + (f":{method}" if method else "")
                    r = await call_app(gw.h, verb, path, json.dumps(GEMINI_BODY).encode() if verb == "POST" else b"")
                    if "\n" in payload:
                        # Starlette's path patterns never match a newline: the app's top-level
                        # not-found handler answers, still in the prefix's API shape.
                        assert_error_shape(path, r, 404)
                        continue
                    # A `:` in the payload ends the model there: what follows is no method of ours.
                    assert_error_shape(path, r, 404 if ":" in payload else 400)
        assert gw.upstream.seen == []
        # The same paths with a real model go through.
        r = await gw.h.http.post(f"/gemini/v1beta/models/{FLASH}:generateContent", json=GEMINI_BODY,
                                 headers=auth(gw.h))
        assert r.status_code == 200, r.text
        assert len(gw.upstream.seen) == 1


ISSUE_PAYLOADS = ["veo-3.0-generate-001:predictLongRunning?x=", "../../v1beta/files?", "a\x00b", "m" * (1 << 20)]
GEMINI_EXPECTED = {
    "gemini-api": {"generateContent": (b"/{v}/models/gemini-2.5-flash:generateContent", b""),
                   "streamGenerateContent": (b"/{v}/models/gemini-2.5-flash:streamGenerateContent", b""),
                   "countTokens": (b"/{v}/models/gemini-2.5-flash:countTokens", b"")},
    "gemini-oauth": {"generateContent": (b"/v1internal:generateContent", b""),
                     "streamGenerateContent": (b"/v1internal:streamGenerateContent", b"alt=sse"),
                     "countTokens": (b"/v1internal:countTokens", b"")},
}


@pytest.mark.parametrize("case", ["gemini-api", "gemini-oauth"])
async def test_gemini_path_model_wins_over_the_body(case: str, anyio_backend: str):
    """The issue's payloads in the body of a native call: the path's model is called, and
    the body's `model` does not go along."""
    async for gw in gateway(case):
        for version in VERSIONS:
            for method, (raw_path, query) in GEMINI_EXPECTED[case].items():
                for payload in ISSUE_PAYLOADS:
                    before = len(gw.upstream.seen)
                    r = await gw.h.http.post(f"/gemini/{version}/models/{FLASH}:{method}",
                                             json={**GEMINI_BODY, "model": payload}, headers=auth(gw.h))
                    assert r.status_code == 200, (method, r.text[:300])
                    [request] = gw.upstream.seen[before:]
                    expected = raw_path.replace(b"{v}", version.encode()) + (b"?" + query if query else b"")
                    assert request.url.raw_path == expected, request.url  # raw_path: path and query
                    sent = json.loads(request.content)
                    if case == "gemini-api":
                        assert "model" not in sent and sent["contents"] == GEMINI_BODY["contents"]
                    elif method == "countTokens":
                        assert sent["request"]["model"] == f"models/{FLASH}"
                    else:
                        assert sent["model"] == FLASH and "model" not in sent["request"]
        records = await gw.h.records()
        assert records and {rec.model for rec in records} == {FLASH}


async def test_the_issue_request_calls_generate_content_of_the_path_model(anyio_backend: str):
    async for gw in gateway("gemini-api"):
        r = await gw.h.http.post(f"/gemini/v1beta/models/{FLASH}:generateContent",
                                 json={"model": "veo-3.0-generate-001:predictLongRunning?x="}, headers=auth(gw.h))
        assert r.status_code == 200
        [request] = gw.upstream.seen
        assert request.method == "POST"
        assert request.url.raw_path == b"/v1beta/models/gemini-2.5-flash:generateContent"
        assert request.url.query == b"" and request.content == b"{}"


async def test_key_models_are_checked_against_the_path_model(anyio_backend: str):
    async for gw in gateway("gemini-api"):
        veo_only, _ = await gw.h.add_key(models=["veo-*"])
        r = await gw.h.http.post(f"/gemini/v1beta/models/{FLASH}:generateContent",
                                 json={**GEMINI_BODY, "model": "veo-3.0-generate-001"},
                                 headers={"x-goog-api-key": veo_only})
        assert_error_shape("/gemini/v1beta", r, 403)
        assert FLASH in r.json()["error"]["message"]
        flash_only, _ = await gw.h.add_key(models=[FLASH])
        r = await gw.h.http.post(f"/gemini/v1beta/models/{FLASH}:generateContent",
                                 json={**GEMINI_BODY, "model": "veo-3.0-generate-001"},
                                 headers={"x-goog-api-key": flash_only})
        assert r.status_code == 200
        assert [s.url.raw_path for s in gw.upstream.seen] == [b"/v1beta/models/gemini-2.5-flash:generateContent"]


@pytest.mark.parametrize("case, route, body", [
    ("gemini-api", "/gemini/v1beta/models/flash:generateContent", GEMINI_BODY),
    ("gemini-api", "/gemini/v1/chat", {**CHAT, "model": "flash"}),
    ("azure-openai", "/openai/v1/chat/completions", {**CHAT, "model": "flash"}),
    ("bedrock", "/claude/v1/messages", {**MESSAGES, "model": "flash"}),
])
async def test_an_account_mapping_to_an_unsafe_name_is_refused_and_frees_its_slot(
        case: str, route: str, body: dict[str, Any], anyio_backend: str):
    """The value checked is the one the URL would carry: after the account's model_mapping
    (and, for Bedrock, its model_ids; for Azure, its deployments)."""
    bad = "../../v1beta/files?"
    extra: dict[str, Any] = {"max_concurrency": 1, "model_mapping": {"flash": bad}}
    if case == "bedrock":
        extra = {"max_concurrency": 1, "options": {"region": "us-east-1", "model_ids": {"flash": bad}}}
    if case == "azure-openai":
        extra = {"max_concurrency": 1, "options": {"deployments": {"flash": bad}}}
    async for gw in gateway(case, **extra):
        for _ in range(3):  # a slot leaked by the first would make the next ones 503
            r = await gw.h.http.post(route, json=body, headers=auth(gw.h))
            assert_error_shape(route, r, 400)
        assert gw.upstream.seen == []
        [*_, rec] = await gw.h.records()
        assert rec.status == 400 and "not valid" in (rec.error or "")
