"""The bedrock adapter: the exact URL, auth (SigV4 or API key) and body it sends, error
mapping, the event stream turned into Anthropic SSE, and what it answers on its own."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import sys
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest

pytest.importorskip("botocore")

from aiproxy.adapters.base import UpstreamCall  # noqa: E402
from aiproxy.adapters.bedrock import BedrockAdapter  # noqa: E402
from aiproxy.formats.sse import SSEParser  # noqa: E402
from aiproxy.stores.entities import Account  # noqa: E402
from tests.fakes.bedrock_upstream import chunk_frame, exception_frame, stream_events  # noqa: E402

pytestmark = pytest.mark.anyio

AWS = {"access_key_id": "AKIDEXAMPLE", "secret_access_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
BODY = {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
SONNET_ID = "anthropic.claude-sonnet-4-5-20250929-v1:0"
DEFAULT_BASE = "https://bedrock-runtime.{region}.amazonaws.com"


class Upstream:
    """A MockTransport that records each request and answers with `answer`."""

    def __init__(self, answer: httpx.Response | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.answer = answer

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        request.read()
        return self.answer or httpx.Response(200, json={"type": "message", "usage": {"input_tokens": 1}})

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handler))


def account(**options: Any) -> Account:
    options.setdefault("region", "us-west-2")
    return Account(name="bdrk", platform="claude", type="bedrock", options=options, id=3)


def call(body: dict | None = None, *, path: str = "/v1/messages", method: str = "POST", stream: bool = False,
         betas: str | None = None) -> UpstreamCall:
    body = BODY if body is None and method == "POST" else body
    headers = [(b"content-type", b"application/json"), (b"anthropic-version", b"2023-06-01"), (b"user-agent", b"t/1")]
    if betas:
        headers.append((b"anthropic-beta", betas.encode()))
    return UpstreamCall(method=method, path=path, query="beta=true", headers=headers,
                        body=json.dumps(body).encode() if body else b"", json=body,
                        model=(body or {}).get("model"), stream=stream)


async def send(upstream: Upstream, acct: Account, c: UpstreamCall, creds: dict | None = None,
               base: str = DEFAULT_BASE) -> tuple[httpx.Response, bytes]:
    async with upstream.client() as client:
        response = await BedrockAdapter(client, base).send(acct, creds if creds is not None else AWS, c)
        body = await response.aread()
        await response.aclose()
    return response, body


def sigv4_by_hand(request: httpx.Request, secret: str, region: str, signed: list[str], amz_date: str) -> str:
    """SigV4 from the spec, independent of botocore: non-S3 services encode the path twice."""
    url = urlsplit(str(request.url))
    canonical_path = "/".join(quote(seg, safe="-_.~") for seg in url.path.split("/"))
    canonical_headers = "".join(f"{h}:{request.headers[h].strip()}\n" for h in signed)
    canonical = "\n".join(["POST", canonical_path, "", canonical_headers, ";".join(signed),
                           hashlib.sha256(request.content).hexdigest()])
    scope = f"{amz_date[:8]}/{region}/bedrock/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in (amz_date[:8], region, "bedrock", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request, "
    r"SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<sig>[0-9a-f]{64})$"
)


@pytest.mark.parametrize("session_token", [None, "FwoGZXIvYXdzEXAMPLETOKEN"])
async def test_sigv4_request(session_token: str | None):
    upstream = Upstream()
    creds = {**AWS, **({"session_token": session_token} if session_token else {})}
    response, _ = await send(upstream, account(), call(betas="context-1m-2025-08-07,interleaved-thinking-2025-05-14"),
                             creds)
    assert response.status_code == 200
    [req] = upstream.requests
    assert str(req.url) == "https://bedrock-runtime.us-west-2.amazonaws.com/model/anthropic.claude-sonnet-4-5-20250929-v1:0/invoke"
    assert req.url.raw_path == b"/model/anthropic.claude-sonnet-4-5-20250929-v1:0/invoke"
    assert json.loads(req.content) == {
        "max_tokens": 64, "messages": BODY["messages"], "anthropic_version": "bedrock-2023-05-31",
        "anthropic_beta": ["context-1m-2025-08-07", "interleaved-thinking-2025-05-14"],
    }
    # None of the client's Anthropic headers go to AWS.
    assert "anthropic-version" not in req.headers and "anthropic-beta" not in req.headers
    assert req.headers["accept"] == "application/json"
    assert req.headers["accept-encoding"] == "identity"

    m = _AUTH.match(req.headers["authorization"])
    assert m, req.headers["authorization"]
    amz_date = req.headers["x-amz-date"]
    assert re.fullmatch(r"\d{8}T\d{6}Z", amz_date)
    assert (m["key"], m["date"], m["region"], m["service"]) == ("AKIDEXAMPLE", amz_date[:8], "us-west-2", "bedrock")
    signed = m["signed"].split(";")
    assert {"host", "x-amz-date", "content-type"} <= set(signed)
    if session_token:
        assert req.headers["x-amz-security-token"] == session_token and "x-amz-security-token" in signed
    else:
        assert "x-amz-security-token" not in req.headers
    # The signature is right for what went on the wire: by the spec, and by botocore.
    assert m["sig"] == sigv4_by_hand(req, AWS["secret_access_key"], "us-west-2", signed, amz_date)

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    again = AWSRequest(method="POST", url=str(req.url), data=req.content,
                       headers={h: req.headers[h] for h in signed if h != "host"})
    again.context["timestamp"] = amz_date
    auth = SigV4Auth(Credentials(AWS["access_key_id"], AWS["secret_access_key"], session_token), "bedrock", "us-west-2")
    assert auth.signature(auth.string_to_sign(again, auth.canonical_request(again)), again) == m["sig"]


async def test_api_key_stream_url_prefix_and_base_override():
    upstream = Upstream(httpx.Response(200, content=b"", headers={"content-type": "application/vnd.amazon.eventstream"}))
    acct = account(region="eu-central-1", cross_region_prefix="eu")
    await send(upstream, acct, call({**BODY, "model": "claude-haiku-4-5", "stream": True}, stream=True),
               {"api_key": "bedrock-api-key-1"}, base="http://bedrock.test/{region}/")
    [req] = upstream.requests
    assert str(req.url) == (
        "http://bedrock.test/eu-central-1/model/eu.anthropic.claude-haiku-4-5-20251001-v1:0/invoke-with-response-stream"
    )
    assert req.headers["authorization"] == "Bearer bedrock-api-key-1"
    assert "x-amz-date" not in req.headers
    assert req.headers["accept"] == "application/vnd.amazon.eventstream"
    assert json.loads(req.content) == {"max_tokens": 64, "messages": BODY["messages"],
                                       "anthropic_version": "bedrock-2023-05-31"}


async def test_account_base_url_and_model_ids_option():
    upstream = Upstream()
    acct = account(model_ids={"claude-sonnet-4-5": "arn:aws:bedrock:us-west-2:123:inference-profile/x"})
    acct.base_url = "https://vpce-1.bedrock-runtime.us-west-2.vpce.amazonaws.com"
    await send(upstream, acct, call(), {"api_key": "k"}, base="http://ignored.test")
    [req] = upstream.requests
    assert req.url.raw_path == b"/model/arn:aws:bedrock:us-west-2:123:inference-profile%2Fx/invoke"
    assert req.url.host == "vpce-1.bedrock-runtime.us-west-2.vpce.amazonaws.com"


async def test_unknown_model_400_without_a_request():
    upstream = Upstream()
    response, body = await send(upstream, account(), call({**BODY, "model": "claude-unknown-9"}))
    assert response.status_code == 400
    err = json.loads(body)
    assert err["type"] == "error" and err["error"]["type"] == "invalid_request_error"
    assert "claude-unknown-9" in err["error"]["message"] and "Bedrock" in err["error"]["message"]
    assert upstream.requests == []


async def test_count_tokens_400_and_models_listed_locally():
    upstream = Upstream()
    response, body = await send(upstream, account(), call({"model": "claude-sonnet-4-5", "messages": []},
                                                          path="/v1/messages/count_tokens"))
    assert response.status_code == 400 and "count_tokens" in json.loads(body)["error"]["message"]
    response, body = await send(upstream, account(model_ids={"house-claude": "anthropic.x"}),
                                call(path="/v1/models", method="GET"))
    assert response.status_code == 200
    ids = [m["id"] for m in json.loads(body)["data"]]
    assert "house-claude" in ids and "claude-sonnet-4-5-20250929" in ids
    assert upstream.requests == []


@pytest.mark.parametrize(
    ("status", "name", "kind"),
    [(403, "AccessDeniedException", "permission_error"), (429, "ThrottlingException", "rate_limit_error"),
     (400, "ValidationException", "invalid_request_error")],
)
async def test_bedrock_errors_in_anthropic_shape(status: int, name: str, kind: str):
    upstream = Upstream(httpx.Response(status, json={"message": "nope, says AWS"},
                                       headers={"x-amzn-ErrorType": f"{name}:http://internal.amazon.com/coral/",
                                                "x-amzn-RequestId": "rid-1"}))
    for stream in (False, True):
        response, body = await send(upstream, account(), call({**BODY, "stream": stream}, stream=stream))
        assert response.status_code == status
        assert response.headers["content-type"] == "application/json"
        assert response.headers["x-amzn-requestid"] == "rid-1"
        err = json.loads(body)
        assert err["type"] == "error" and err["error"]["type"] == kind
        assert err["error"]["message"] == f"Bedrock {name}: nope, says AWS"


async def test_stream_translated_as_it_arrives():
    frames = [chunk_frame(e) for e in stream_events()[:3]]
    frames.append(exception_frame("throttlingException", "slow down"))
    data = b"".join(frames)
    pulled: list[int] = []
    closed: list[bool] = []

    class Chunks(httpx.AsyncByteStream):
        async def __aiter__(self):
            for i in range(0, len(data), 10):
                pulled.append(i)
                yield data[i:i + 10]

        async def aclose(self) -> None:
            closed.append(True)

    upstream = Upstream(httpx.Response(200, stream=Chunks(),
                                       headers={"content-type": "application/vnd.amazon.eventstream",
                                                "x-amzn-requestid": "rid-2"}))
    async with upstream.client() as client:
        response = await BedrockAdapter(client).send(account(), AWS, call({**BODY, "stream": True}, stream=True))
        assert response.headers["content-type"] == "text/event-stream"
        assert response.headers["x-amzn-requestid"] == "rid-2"
        parser = SSEParser()
        seen: list[str] = []
        async for chunk in response.aiter_bytes():
            events = parser.feed(chunk)
            seen += [e.event for e in events]
            if events and events[0].event == "message_start":
                assert pulled[-1] < len(data) - 10  # the first event came before the upstream ended
        await response.aclose()
    assert seen == ["message_start", "content_block_start", "content_block_delta", "error"]
    assert closed == [True]


async def test_without_botocore_503(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "botocore.auth", None)  # `import botocore.auth` now raises ImportError
    upstream = Upstream()
    response, body = await send(upstream, account(), call())
    assert response.status_code == 503
    assert "aiproxy[bedrock]" in json.loads(body)["error"]["message"]
    assert upstream.requests == []


async def test_missing_region_or_credentials_500_without_a_request():
    upstream = Upstream()
    acct = account()
    acct.options = {}
    response, body = await send(upstream, acct, call())
    assert response.status_code == 500 and "region" in json.loads(body)["error"]["message"]
    response, body = await send(upstream, account(), call(), {"access_key_id": "AKID"})
    assert response.status_code == 500 and "neither an api_key nor AWS access keys" in json.loads(body)["error"]["message"]
    assert upstream.requests == []


def aws_check(method: str, raw_path: str, headers: dict[str, str], body: bytes, secret: str) -> str | None:
    """What AWS does with a signed request: rebuild the signature from the path as it
    arrived (each segment encoded once more, as for every service but S3). None if it matches."""
    m = _AUTH.match(headers.get("authorization", ""))
    if not m:
        return "no SigV4 authorization"
    signed = m["signed"].split(";")
    amz_date = headers["x-amz-date"]
    canonical_path = "/".join(quote(seg, safe="-_.~") for seg in raw_path.split("/"))
    canonical = "\n".join([method, canonical_path, "", "".join(f"{h}:{headers[h].strip()}\n" for h in signed),
                           ";".join(signed), hashlib.sha256(body).hexdigest()])
    scope = f"{amz_date[:8]}/{m['region']}/{m['service']}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in (amz_date[:8], m["region"], m["service"], "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return None if expected == m["sig"] else f"signature mismatch for {raw_path}"


def transports() -> list:
    found = [pytest.param(lambda: httpx.AsyncHTTPTransport(), id="httpx")]
    try:
        from httpx_aiohttp import AiohttpTransport
    except ImportError:
        return found
    return found + [pytest.param(lambda: AiohttpTransport(), id="aiohttp")]


@pytest.mark.parametrize("make_transport", transports())
@pytest.mark.parametrize("model_id", [SONNET_ID, "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2",
                                      "us.anthropic.claude-x@v1:0"])
async def test_signature_holds_on_the_wire(make_transport, model_id: str):
    """Over a real socket, through each transport the gateway may use (aiohttp's
    URL handling decodes some %-escapes), the path that arrives is the one signed."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from tests.servers import running

    arrived: list[str] = []

    async def invoke(request: Request) -> JSONResponse:
        raw_path = request.scope["raw_path"].decode()
        arrived.append(raw_path)
        problem = aws_check("POST", raw_path, dict(request.headers), await request.body(), AWS["secret_access_key"])
        if problem:
            return JSONResponse({"message": problem}, status_code=403,
                                headers={"x-amzn-ErrorType": "InvalidSignatureException"})
        return JSONResponse({"type": "message", "model": request.path_params["model_id"]})

    app = Starlette(routes=[Route("/model/{model_id:path}/invoke", invoke, methods=["POST"])])
    with running(app, lifespan="off") as base:
        async with httpx.AsyncClient(transport=make_transport()) as client:
            acct = account(region="us-east-1", model_ids={"house": model_id})
            response = await BedrockAdapter(client, base).send(acct, AWS, call({**BODY, "model": "house"}))
            body = await response.aread()
            await response.aclose()
    assert response.status_code == 200, body
    assert json.loads(body)["model"] == model_id
    assert "%2F" in arrived[0] if "/" in model_id else ":" in arrived[0]


@pytest.mark.parametrize("model_id", ["anthropic.x/../../model/other", "../anthropic.x", "anthropic.x?y=1",
                                      "anthropic.x#y", "anthropic.x%2F..", "anthropic.x\x00", "anthropic.x\r\ny",
                                      "anthropic.х", "anthropic." + "x" * (1 << 20)])
@pytest.mark.parametrize("from_options", [False, True])
async def test_a_model_id_that_is_no_path_segment_is_refused_unsent(model_id: str, from_options: bool):
    """The client's own model passed on as the id (it names `anthropic.`), or the account's
    model_ids: checked before anything is signed or sent."""
    from aiproxy.upstream_path import UnsafePathValue

    upstream = Upstream()
    acct = account(model_ids={"house": model_id}) if from_options else account()
    with pytest.raises(UnsafePathValue, match="Bedrock model id"):
        await send(upstream, acct, call({**BODY, "model": "house" if from_options else model_id}))
    assert upstream.requests == []
