"""Azure OpenAI accounts: a resource endpoint and its key, for the OpenAI routes.

The account's `base_url` is the resource endpoint, `https://{resource}.openai.azure.com`
(required: there is no default). Its key goes as `api-key`, never as Authorization.

Options (all optional):

- `api_version`: the api-version of chat completions and the models list (default 2024-10-21);
- `responses_api_version`: the api-version of the Responses API (default 2025-04-01-preview);
- `deployments`: `{model: deployment name}` (the model after the account's model_mapping);
  a model not in it is taken as its own deployment name;
- `v1`: true to use the v1 API (`{base}/openai/v1/...`): no api-version, and
  the body's model is sent as is (the deployment name; `deployments` is not used).

The pool picks accounts by `models` / `model_mapping` as for every type, not
by `deployments`: list the models a deployment map covers in `models` too.

Deployment API, from the canonical OpenAI paths the routes give:

- `/v1/chat/completions` → `POST {base}/openai/deployments/{deployment}/chat/completions?api-version=…`
  (Azure ignores the body's model there);
- `/v1/responses` → `POST {base}/openai/responses?api-version=…` with the body's `model` set to the deployment;
- `/v1/models` → `GET {base}/openai/models?api-version=…`.

The client's other query parameters are kept; its own api-version gives way to the account's.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import orjson

from ..formats.dialect import OPENAI
from ..formats.wire import CHAT_PATH, MODELS_PATH, RESPONSES_PATH
from ..stores.entities import Account
from ..upstream_path import AZURE_DEPLOYMENT
from . import upstream
from .base import UpstreamCall
from .openai import SCOPE_HEADERS
from .upstream import error_answer

DEFAULT_API_VERSION = "2024-10-21"
DEFAULT_RESPONSES_API_VERSION = "2025-04-01-preview"


def resource_base(base_url: str) -> str:
    """The resource endpoint, forgiving a base URL pasted with `/openai` or `/openai/v1` on its end."""
    base = base_url.rstrip("/")
    for suffix in ("/openai/v1", "/openai"):
        if base.endswith(suffix):
            return base[: -len(suffix)]
    return base


def _with_api_version(query: str, version: str) -> str:
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "api-version"]
    return urlencode([("api-version", version), *kept])


def _option_str(options: dict[str, Any], name: str, default: str) -> str:
    value = options.get(name)
    return value if isinstance(value, str) and value else default


class AzureOpenAIAdapter:

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def send(self, account: Account, credentials: dict[str, Any], call: UpstreamCall) -> httpx.Response:
        if not account.base_url:
            # The admin API refuses such an account; one written to the store directly ends here.
            return error_answer(OPENAI, 502, f"azure-openai account {account.id} has no base_url")
        target = self._target(account, call)
        if isinstance(target, httpx.Response):
            return target
        url, body = target
        # The client's OpenAI scope headers mean nothing to Azure (the key decides).
        headers = [(k, v) for k, v in call.headers if k.lower() not in SCOPE_HEADERS]
        headers.append((b"api-key", str(credentials.get("api_key", "")).encode()))
        return await upstream.send(self._client, call.method, url, headers, body)

    def _target(self, account: Account, call: UpstreamCall) -> tuple[str, bytes] | httpx.Response:
        """The upstream URL and body for `call`, or an error answer."""
        options = account.options or {}
        base = resource_base(account.base_url or "")
        if call.path not in (CHAT_PATH, RESPONSES_PATH, MODELS_PATH):
            return error_answer(OPENAI, 404, f"azure-openai accounts do not serve {call.path}")

        if options.get("v1") is True:
            # /openai/v1/chat/completions, …/responses, …/models
            return upstream.url(base, "/openai" + call.path, call.query), call.body

        if call.path == MODELS_PATH:
            query = _with_api_version(call.query, _option_str(options, "api_version", DEFAULT_API_VERSION))
            return upstream.url(base, "/openai/models", query), call.body

        if not call.model:
            return error_answer(OPENAI, 400, "model is required: it names the Azure deployment")
        deployments = options.get("deployments")
        deployment = deployments.get(call.model) if isinstance(deployments, dict) else None
        if not isinstance(deployment, str) or not deployment:
            deployment = call.model

        if call.path == CHAT_PATH:
            query = _with_api_version(call.query, _option_str(options, "api_version", DEFAULT_API_VERSION))
            # The deployment may be the client's model: checked (UnsafePathValue, a 400) and escaped.
            path = f"/openai/deployments/{AZURE_DEPLOYMENT.segment(deployment)}/chat/completions"
            return upstream.url(base, path, query), call.body

        # Responses: the deployment goes in the body.
        query = _with_api_version(
            call.query, _option_str(options, "responses_api_version", DEFAULT_RESPONSES_API_VERSION)
        )
        body = call.body
        if call.json is not None and call.json.get("model") != deployment:
            body = orjson.dumps({**call.json, "model": deployment})
        return upstream.url(base, "/openai/responses", query), body
