"""AWS Bedrock accounts serving Claude to /claude clients.

Credentials: `{"access_key_id", "secret_access_key", "session_token"?}`
(requests signed with botocore's SigV4, service `bedrock`) or `{"api_key"}`
(a Bedrock API key, sent as `Authorization: Bearer`). Options: `region`
(required), `model_ids` (Anthropic model name -> Bedrock model id, over the
built-in table in formats/bedrock.py), `cross_region_prefix` (`us`, `eu`,
`apac`, `global`, … put before built-in ids).

Only /v1/messages reaches Bedrock. /v1/models is answered here with the models
the account can serve; /v1/messages/count_tokens with a 400. Bedrock's errors
are answered in Anthropic's error shape with Bedrock's status, and its binary
event stream is translated into Anthropic SSE as it arrives.

botocore is the optional `bedrock` extra, imported on first use: without it
every request to a Bedrock account is answered 503.
"""

from __future__ import annotations

from typing import Any

import httpx

from ..formats import bedrock, wire
from ..formats.dialect import ANTHROPIC
from ..stores.entities import Account
from ..upstream_path import BEDROCK_MODEL_ID
from . import upstream
from .base import UpstreamCall
from .streams import transformed
from .upstream import error_answer

DEFAULT_BASE_URL = "https://bedrock-runtime.{region}.amazonaws.com"
SERVICE = "bedrock"
_JSON = [(b"content-type", b"application/json")]


def _answer(status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None) -> httpx.Response:
    return httpx.Response(status, headers=(headers or []) + _JSON, content=body)


def _botocore_missing() -> bool:
    try:
        import botocore.auth  # noqa: F401
        import botocore.eventstream  # noqa: F401
    except ImportError:
        return True
    return False


def endpoint(template: str, region: str, model_id: str, stream: bool) -> str:
    """The invoke URL; raises UnsafePathValue for a model id that is none
    (it may be the client's own model name, see bedrock.model_id)."""
    action = "invoke-with-response-stream" if stream else "invoke"
    return upstream.url(template.replace("{region}", region), f"/model/{BEDROCK_MODEL_ID.segment(model_id)}/{action}")


def sigv4_headers(
    credentials: dict[str, Any], region: str, url: str, body: bytes, headers: dict[str, str]
) -> dict[str, str]:
    """`headers` plus the SigV4 ones (Authorization, X-Amz-Date, X-Amz-Security-Token), signed by botocore."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    creds = Credentials(
        str(credentials["access_key_id"]), str(credentials["secret_access_key"]), credentials.get("session_token") or None
    )
    request = AWSRequest(method="POST", url=url, data=body, headers=headers)
    SigV4Auth(creds, SERVICE, region).add_auth(request)
    return dict(request.headers.items())


def _kept_headers(response: httpx.Response) -> list[tuple[bytes, bytes]]:
    # Bedrock's request id and the like; not its content headers.
    return [(k, v) for k, v in response.headers.raw if k.lower().startswith(b"x-amzn-") or k.lower() == b"retry-after"]


class BedrockAdapter:

    def __init__(self, client: httpx.AsyncClient, base_url: str = DEFAULT_BASE_URL) -> None:
        self._client = client
        self._base_url = base_url

    async def send(self, account: Account, credentials: dict[str, Any], call: UpstreamCall) -> httpx.Response:
        if _botocore_missing():
            return error_answer(ANTHROPIC, 503, "Bedrock accounts need botocore: install aiproxy[bedrock]")
        options = account.options or {}
        if call.path == wire.MODELS_PATH:
            return _answer(200, bedrock.models_list(options.get("model_ids") or {}))
        if call.path != wire.MESSAGES_PATH:
            return error_answer(ANTHROPIC, 400,
                                f"{call.path} is not supported by Bedrock accounts; only /v1/messages is")
        region = options.get("region")
        if not isinstance(region, str) or not region:
            return error_answer(ANTHROPIC, 500, f"Bedrock account {account.name!r} has no region option")
        if call.json is None:
            return error_answer(ANTHROPIC, 400, "request body must be a JSON object")
        model = call.model or ""
        model_id = bedrock.model_id(model, options.get("model_ids") or {}, options.get("cross_region_prefix"))
        if model_id is None:
            return error_answer(ANTHROPIC, 400,
                                f"model {model!r} has no Bedrock model id (set it in the account's model_ids option)")

        url = endpoint(account.base_url or self._base_url, region, model_id, call.stream)
        body = bedrock.request_body(call.json, bedrock.betas(call.headers))
        headers = {
            "content-type": "application/json",
            "accept": bedrock.EVENT_STREAM_CONTENT_TYPE if call.stream else "application/json",
        }
        if credentials.get("api_key"):
            headers["authorization"] = f"Bearer {credentials['api_key']}"
        elif credentials.get("access_key_id") and credentials.get("secret_access_key"):
            headers = sigv4_headers(credentials, region, url, body, headers)
        else:
            return error_answer(ANTHROPIC, 500,
                                f"Bedrock account {account.name!r} has neither an api_key nor AWS access keys")
        # The identity accept-encoding goes on unsigned (SigV4 signs only the headers it was given).
        response = await upstream.send(
            self._client, "POST", url, [(k.encode("ascii"), v.encode("ascii")) for k, v in headers.items()], body
        )

        if response.status_code >= 400:
            raw = await upstream.read(response)
            error_type = response.headers.get("x-amzn-errortype")
            return _answer(response.status_code, bedrock.error_body(response.status_code, raw, error_type),
                           _kept_headers(response))
        if not call.stream:
            return response
        # The event stream, translated into Anthropic SSE as it arrives.
        return transformed(
            response,
            bedrock.EventStreamTranslator(),
            [*_kept_headers(response), (b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")],
        )
