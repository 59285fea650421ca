"""The azure-openai adapter: the exact URL, headers and body it sends for each OpenAI route,
and one trip through the gateway (stream relayed, usage recorded)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from aiproxy.adapters.azure_openai import AzureOpenAIAdapter
from aiproxy.adapters.base import UpstreamCall
from aiproxy.stores.entities import Account
from tests.fakes.openai_upstream import CHAT_USAGE, chat_completion, chat_stream
from tests.harness import start_harness

pytestmark = pytest.mark.anyio

BASE = "https://res-1.openai.azure.com"
KEY = "azure-key-123"
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


class Upstream:
    """A MockTransport that records each request and answers with `answer`."""

    def __init__(self, answer: httpx.Response | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.answer = answer

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        request.read()
        return self.answer or httpx.Response(200, json={"ok": True})

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handler))


def account(**options: Any) -> Account:
    return Account(name="az", platform="openai", type="azure-openai", base_url=BASE, options=options, id=7)


def call(path: str, body: dict | None = None, *, method: str = "POST", query: str = "",
         model: str | None = None, stream: bool = False) -> UpstreamCall:
    raw = json.dumps(body).encode() if body is not None else b""
    return UpstreamCall(
        method=method, path=path, query=query,
        headers=[(b"content-type", b"application/json"), (b"user-agent", b"t/1"),
                 (b"openai-organization", b"org-client")],
        body=raw, json=body, model=model if model is not None else (body or {}).get("model"), stream=stream,
    )


async def send(upstream: Upstream, acct: Account, c: UpstreamCall) -> tuple[httpx.Response, httpx.Request]:
    async with upstream.client() as client:
        response = await AzureOpenAIAdapter(client).send(acct, {"api_key": KEY}, c)
        await response.aread()
        await response.aclose()
    [request] = upstream.requests
    return response, request


def assert_azure_auth(request: httpx.Request) -> None:
    assert request.headers["api-key"] == KEY
    assert "authorization" not in request.headers
    assert "openai-organization" not in request.headers
    assert request.headers["accept-encoding"] == "identity"
    assert request.headers["user-agent"] == "t/1"


async def test_chat_goes_to_the_deployment_named_after_the_model():
    up = Upstream(httpx.Response(200, json=chat_completion("gpt-4o")))
    response, request = await send(up, account(), call("/v1/chat/completions", CHAT))
    assert response.status_code == 200
    assert request.method == "POST"
    assert str(request.url) == f"{BASE}/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
    assert_azure_auth(request)
    assert json.loads(request.content) == CHAT  # forwarded as sent: Azure ignores the model here


async def test_chat_stream_uses_the_deployment_map_the_api_version_and_keeps_the_query():
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    up = Upstream()
    acct = account(api_version="2025-01-01-preview", deployments={"gpt-4o": "prod gpt/4o", "other": "x"})
    _, request = await send(up, acct, call("/v1/chat/completions", body, query="foo=1&api-version=1999", stream=True))
    # The account's api-version replaces the client's; the deployment name is path-quoted.
    assert str(request.url) == (
        f"{BASE}/openai/deployments/prod%20gpt%2F4o/chat/completions?api-version=2025-01-01-preview&foo=1")
    assert json.loads(request.content) == body
    assert_azure_auth(request)


async def test_responses_puts_the_deployment_in_the_body():
    body = {"model": "gpt-5", "input": "hi", "stream": True}
    up = Upstream()
    _, request = await send(up, account(deployments={"gpt-5": "gpt5-prod"}), call("/v1/responses", body))
    assert str(request.url) == f"{BASE}/openai/responses?api-version=2025-04-01-preview"
    assert json.loads(request.content) == {**body, "model": "gpt5-prod"}
    assert_azure_auth(request)


async def test_responses_api_version_option_and_unmapped_model_sent_unchanged():
    body = {"model": "gpt-5", "input": "hi"}
    up = Upstream()
    acct = account(api_version="ignored-for-responses", responses_api_version="2025-03-01-preview")
    _, request = await send(up, acct, call("/v1/responses", body, query="x=y"))
    assert str(request.url) == f"{BASE}/openai/responses?api-version=2025-03-01-preview&x=y"
    assert request.content == json.dumps(body).encode()  # the client's bytes, untouched


async def test_models_list():
    up = Upstream(httpx.Response(200, json={"object": "list", "data": []}))
    _, request = await send(up, account(api_version="2024-06-01"), call("/v1/models", method="GET"))
    assert request.method == "GET"
    assert str(request.url) == f"{BASE}/openai/models?api-version=2024-06-01"
    assert request.content == b""
    assert_azure_auth(request)


@pytest.mark.parametrize("base_url", [BASE, BASE + "/", BASE + "/openai", BASE + "/openai/v1/"])
@pytest.mark.parametrize(
    "path,method,url",
    [
        ("/v1/chat/completions", "POST", f"{BASE}/openai/v1/chat/completions?foo=1"),
        ("/v1/responses", "POST", f"{BASE}/openai/v1/responses?foo=1"),
        ("/v1/models", "GET", f"{BASE}/openai/v1/models?foo=1"),
    ],
)
async def test_v1_mode(base_url: str, path: str, method: str, url: str):
    body = {"model": "gpt-4o", "input": "hi"} if method == "POST" else None
    acct = account(v1=True, deployments={"gpt-4o": "not-used"}, api_version="2024-10-21")
    acct.base_url = base_url
    up = Upstream()
    _, request = await send(up, acct, call(path, body, method=method, query="foo=1"))
    assert str(request.url) == url  # no api-version
    assert request.content == (json.dumps(body).encode() if body else b"")  # model passed as is
    assert_azure_auth(request)


async def test_other_paths_and_missing_settings_answer_openai_shaped_errors():
    up = Upstream()
    async with up.client() as client:
        adapter = AzureOpenAIAdapter(client)
        r = await adapter.send(account(), {"api_key": KEY}, call("/v1/embeddings", {"model": "e", "input": "x"}))
        assert r.status_code == 404
        assert r.json()["error"]["type"] == "not_found_error" and "/v1/embeddings" in r.json()["error"]["message"]
        r = await adapter.send(account(), {"api_key": KEY}, call("/v1/chat/completions", {"messages": []}))
        assert r.status_code == 400 and "deployment" in r.json()["error"]["message"]
        no_base = account()
        no_base.base_url = None
        r = await adapter.send(no_base, {"api_key": KEY}, call("/v1/chat/completions", CHAT))
        assert r.status_code == 502 and "base_url" in r.json()["error"]["message"]
    assert up.requests == []


async def test_through_the_gateway_stream_relayed_and_usage_recorded(anyio_backend: str):
    events = chat_stream("gpt-4o", include_usage=True, azure=True)
    up = Upstream(httpx.Response(200, content=b"".join(events), headers={"content-type": "text/event-stream"}))
    async with start_harness(httpx.MockTransport(up.handler)) as h:
        await h.add_account(credentials={"api_key": KEY}, name="az", platform="openai", type="azure-openai",
                            base_url=BASE, models=["gpt-4o"], options={"deployments": {"gpt-4o": "dep-4o"}})
        r = await h.http.post("/openai/v1/chat/completions", json={**CHAT, "stream": True},
                              headers={"authorization": f"Bearer {h.key}"})
        assert r.status_code == 200, r.text
        assert r.content.startswith(b'data: {"choices":[],"created":0')  # Azure's filter chunk relayed
        assert b'"prompt_tokens"' not in r.content  # the injected usage chunk is hidden again
        [request] = up.requests
        assert str(request.url) == f"{BASE}/openai/deployments/dep-4o/chat/completions?api-version=2024-10-21"
        assert request.headers["api-key"] == KEY and "authorization" not in request.headers
        assert h.key not in str(request.headers)
        assert json.loads(request.content)["stream_options"] == {"include_usage": True}
        [rec] = await h.records()
        cached = CHAT_USAGE["prompt_tokens_details"]["cached_tokens"]
        assert (rec.platform, rec.endpoint, rec.model, rec.status, rec.stream) == (
            "openai", "chat_completions", "gpt-4o", 200, True)
        assert (rec.input_tokens, rec.output_tokens, rec.cache_read_tokens) == (
            CHAT_USAGE["prompt_tokens"] - cached, CHAT_USAGE["completion_tokens"], cached)


async def test_through_the_gateway_non_stream_chat_and_responses(anyio_backend: str):
    from tests.fakes.openai_upstream import RESPONSES_USAGE, message_item, response_object, responses_stream

    answers = {
        "/openai/deployments/dep-4o/chat/completions": httpx.Response(200, json=chat_completion("gpt-4o")),
        "/openai/responses": httpx.Response(
            200, json=response_object("dep-4o", "completed", [message_item("Hello")], RESPONSES_USAGE)),
    }
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        request.read()
        if json.loads(request.content).get("stream"):
            return httpx.Response(200, content=b"".join(responses_stream("dep-4o")),
                                  headers={"content-type": "text/event-stream"})
        return answers[request.url.path]

    async with start_harness(httpx.MockTransport(handler)) as h:
        await h.add_account(credentials={"api_key": KEY}, name="az", platform="openai", type="azure-openai",
                            base_url=BASE, models=["gpt-4o"], options={"deployments": {"gpt-4o": "dep-4o"}})
        auth = {"authorization": f"Bearer {h.key}"}
        r = await h.http.post("/openai/v1/chat/completions", json=CHAT, headers=auth)
        assert r.status_code == 200 and r.json() == chat_completion("gpt-4o")
        r = await h.http.post("/openai/v1/responses", json={"model": "gpt-4o", "input": "hi"}, headers=auth)
        assert r.status_code == 200 and r.json()["output"][0]["content"][0]["text"] == "Hello"
        r = await h.http.post("/responses", json={"model": "gpt-4o", "input": "hi", "stream": True}, headers=auth)
        assert r.status_code == 200 and b"response.completed" in r.content
        assert [str(q.url) for q in seen] == [
            f"{BASE}/openai/deployments/dep-4o/chat/completions?api-version=2024-10-21",
            f"{BASE}/openai/responses?api-version=2025-04-01-preview",
            f"{BASE}/openai/responses?api-version=2025-04-01-preview",
        ]
        assert json.loads(seen[1].content)["model"] == "dep-4o"  # Responses name the deployment
        assert all(q.headers["api-key"] == KEY for q in seen)
        chat, resp, resp_stream = await h.records()
        cached = CHAT_USAGE["prompt_tokens_details"]["cached_tokens"]
        assert (chat.input_tokens, chat.output_tokens, chat.cache_read_tokens, chat.stream) == (
            CHAT_USAGE["prompt_tokens"] - cached, CHAT_USAGE["completion_tokens"], cached, False)
        r_cached = RESPONSES_USAGE["input_tokens_details"]["cached_tokens"]
        for rec, stream in ((resp, False), (resp_stream, True)):
            assert (rec.input_tokens, rec.output_tokens, rec.cache_read_tokens, rec.stream) == (
                RESPONSES_USAGE["input_tokens"] - r_cached, RESPONSES_USAGE["output_tokens"], r_cached, stream)


@pytest.mark.parametrize("deployment", ["../../openai/files?", "gpt-4o?x=1", "gpt-4o#x", "gpt:4o", "a%2Fb", "..",
                                        "gpt\x00", "gpt\r\n4o", "gpt-4о", "x" * (1 << 20)])
@pytest.mark.parametrize("from_map", [False, True])
async def test_a_deployment_that_is_no_path_segment_is_refused_unsent(deployment: str, from_map: bool):
    """The client's model taken as the deployment, or the account's map: checked before any request."""
    from aiproxy.upstream_path import UnsafePathValue

    upstream = Upstream()
    acct = account(deployments={"gpt-4o": deployment}) if from_map else account()
    body = CHAT if from_map else {**CHAT, "model": deployment}
    with pytest.raises(UnsafePathValue, match="Azure deployment name"):
        await send(upstream, acct, call("/v1/chat/completions", body))
    assert upstream.requests == []
