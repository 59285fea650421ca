"""openai-responses accounts: the OpenAI Responses API only, from a ChatGPT login or an API key.

With OAuth credentials (a ChatGPT Plus/Pro/Team login, as Codex CLI uses) the
request goes to the ChatGPT backend's Codex endpoint,
`{codex base}/responses`, with the access token as Bearer and the ChatGPT
account id in `chatgpt-account-id`. That backend only streams and stores
nothing, so `stream: true` and `store: false` are always sent; a client that
asked for a plain JSON answer gets one built from the stream's terminal event
(formats.openai_responses.ResponseCollector). The client's own Codex headers
(originator, session_id, user-agent, version) pass through as they came.
The token is put on by bearer.OAuthBearer (refreshed before expiry, and once
more if the backend refuses it with a 401), with the account id that goes with it.

With `{"api_key"}` it is a plain Responses relay: Bearer key to
`{base_url or the OpenAI API}/v1/responses`.

Only the Responses path is served (the type's `paths`, accounts/openai_responses.py):
the relay does not pick these accounts for chat completions or models.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from ..formats.dialect import OPENAI
from ..formats.openai_responses import ResponseCollector
from ..formats.wire import RESPONSES_PATH
from ..oauth.tokens import TokenError, TokenManager
from ..stores.entities import Account
from . import upstream
from .base import UpstreamCall
from .bearer import OAuthBearer
from .openai import SCOPE_HEADERS, upstream_url
from .upstream import error_answer

# Replaced or dropped from the client's headers: the account decides them.
_DROPPED = SCOPE_HEADERS | {b"chatgpt-account-id", b"accept"}


def codex_body(call: UpstreamCall) -> bytes:
    """The client's body with what the Codex backend requires: stream true, store false."""
    data = call.json or {}
    if data.get("stream") is True and data.get("store") is False:
        return call.body
    return orjson.dumps({**data, "stream": True, "store": False})


class _CodexBearer(OAuthBearer):
    def sign(self, request: httpx.Request, token: str) -> None:
        super().sign(request, token)
        # A refresh may have brought a newer id token (and account id) than the pool holds.
        account_id = self.tokens.latest(self.account, self.credentials).get("chatgpt_account_id")
        if account_id:
            request.headers["chatgpt-account-id"] = str(account_id)
        else:
            request.headers.pop("chatgpt-account-id", None)


class OpenAIResponsesAdapter:

    def __init__(self, client: httpx.AsyncClient, api_base_url: str, codex_base_url: str,
                 tokens: TokenManager) -> None:
        self._client = client
        self._api_base_url = api_base_url
        self._codex_base_url = codex_base_url
        self._tokens = tokens

    async def send(self, account: Account, credentials: dict[str, Any], call: UpstreamCall) -> httpx.Response:
        if call.path != RESPONSES_PATH:
            # Not reached through the relay (it honours `paths`); a clear answer all the same.
            return error_answer(OPENAI, 400, f"{account.type} accounts serve only the Responses API ({RESPONSES_PATH})")
        if credentials.get("api_key"):
            return await self._send_api_key(account, credentials, call)
        return await self._send_codex(account, credentials, call)

    async def _send_api_key(self, account: Account, credentials: dict[str, Any],
                            call: UpstreamCall) -> httpx.Response:
        url = upstream_url(account.base_url or self._api_base_url, call.path, call.query)
        headers = [(k, v) for k, v in call.headers if k.lower() not in SCOPE_HEADERS]
        headers.append((b"authorization", b"Bearer " + str(credentials["api_key"]).encode()))
        return await upstream.send(self._client, call.method, url, headers, call.body)

    async def _send_codex(self, account: Account, credentials: dict[str, Any], call: UpstreamCall) -> httpx.Response:
        target = upstream.url(account.base_url or self._codex_base_url, "/responses", call.query)
        headers = [(k, v) for k, v in call.headers if k.lower() not in _DROPPED]
        headers.append((b"accept", b"text/event-stream"))
        try:
            response = await upstream.send(self._client, call.method, target, headers, codex_body(call),
                                           _CodexBearer(self._tokens, account, credentials))
        except TokenError as exc:
            return error_answer(OPENAI, exc.status, exc.message)
        if call.stream or response.status_code >= 400:
            return response
        return await self._collected(response)

    async def _collected(self, response: httpx.Response) -> httpx.Response:
        """The stream read to its terminal event, answered as one JSON response object."""
        collector = ResponseCollector()
        try:
            async for chunk in response.aiter_bytes():
                collector.feed(chunk)
                if collector.done:
                    break
        finally:
            await response.aclose()
        status, body = collector.result()
        return httpx.Response(status, content=body, headers=upstream.headers_for(response, b"application/json"))
