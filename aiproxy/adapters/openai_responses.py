"""openai-responses accounts: the OpenAI Responses API only, from a ChatGPT login or an API key.

With OAuth credentials (a ChatGPT Plus/Pro/Team login, as Codex CLI uses) the
request goes to the ChatGPT backend's Codex endpoint,
`{codex base}/responses`, with the access token as Bearer and the ChatGPT
account id in `chatgpt-account-id`. That backend only streams and stores
nothing, so `stream: true` and `store: false` are always sent; a client that
asked for a plain JSON answer gets one built from the stream's terminal event
(formats.openai_responses.ResponseCollector). The client's own Codex headers
(originator, session_id, user-agent, version) pass through as they came.
The token comes from the TokenManager (refreshed before expiry, and once more
if the backend refuses it with a 401).

With `{"api_key"}` it is a plain Responses relay: Bearer key to
`{base_url or the OpenAI API}/v1/responses`.

Only the Responses path is served (the type's `paths`, accounts/openai_responses.py):
the relay does not pick these accounts for chat completions or models.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from ..formats import openai_chat
from ..formats.openai_responses import ResponseCollector
from ..formats.wire import RESPONSES_PATH
from ..oauth.tokens import TokenError, TokenManager
from ..stores.entities import Account
from .base import UpstreamCall
from .openai import upstream_url

# Replaced or dropped from the client's headers: the account decides them.
_DROPPED = frozenset({b"openai-organization", b"openai-project", b"chatgpt-account-id", b"accept"})
# Not carried over from the stream to a collected JSON answer.
_BODY_HEADERS = frozenset({b"content-type", b"content-length", b"content-encoding", b"transfer-encoding"})


def _error_response(status: int, message: str) -> httpx.Response:
    # Answered as if from the upstream, in OpenAI's shape, so the relay passes
    # it on (and records it) like any upstream error.
    return httpx.Response(status, content=openai_chat.error_body(status, message),
                          headers={"content-type": "application/json"})


def codex_body(call: UpstreamCall) -> bytes:
    """The client's body with what the Codex backend requires: stream true, store false."""
    data = call.json or {}
    if data.get("stream") is True and data.get("store") is False:
        return call.body
    return orjson.dumps({**data, "stream": True, "store": False})


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
            return _error_response(400, f"{account.type} accounts serve only the Responses API ({RESPONSES_PATH})")
        if credentials.get("api_key"):
            return await self._send_api_key(account, credentials, call)
        return await self._send_codex(account, credentials, call)

    async def _send_api_key(self, account: Account, credentials: dict[str, Any],
                            call: UpstreamCall) -> httpx.Response:
        url = upstream_url(account.base_url or self._api_base_url, call.path, call.query)
        headers = [(k, v) for k, v in call.headers if k.lower() not in (b"openai-organization", b"openai-project")]
        headers.append((b"authorization", b"Bearer " + str(credentials["api_key"]).encode()))
        headers.append((b"accept-encoding", b"identity"))
        request = self._client.build_request(call.method, url, headers=headers, content=call.body or None)
        return await self._client.send(request, stream=True)

    async def _send_codex(self, account: Account, credentials: dict[str, Any], call: UpstreamCall) -> httpx.Response:
        try:
            token = await self._tokens.access_token(account, credentials)
        except TokenError as exc:
            return _error_response(exc.status, exc.message)
        body = codex_body(call)
        response = await self._post_codex(account, credentials, token, call, body)
        if response.status_code == 401:
            # Refused although it looked fresh (revoked, or pasted without an
            # expiry): refresh once and try again.
            await response.aclose()
            try:
                token = await self._tokens.access_token(account, credentials, rejected=token)
            except TokenError as exc:
                return _error_response(exc.status, exc.message)
            response = await self._post_codex(account, credentials, token, call, body)
        if call.stream or response.status_code >= 400:
            return response
        return await self._collected(response)

    async def _post_codex(self, account: Account, credentials: dict[str, Any], token: str,
                          call: UpstreamCall, body: bytes) -> httpx.Response:
        base = (account.base_url or self._codex_base_url).rstrip("/")
        url = base + "/responses" + ("?" + call.query if call.query else "")
        headers = [(k, v) for k, v in call.headers if k.lower() not in _DROPPED]
        headers.append((b"authorization", b"Bearer " + token.encode()))
        # A refresh may have brought a newer id token (and account id) than the pool holds.
        account_id = self._tokens.latest(account, credentials).get("chatgpt_account_id")
        if account_id:
            headers.append((b"chatgpt-account-id", str(account_id).encode()))
        headers.append((b"accept", b"text/event-stream"))
        headers.append((b"accept-encoding", b"identity"))
        request = self._client.build_request(call.method, url, headers=headers, content=body)
        return await self._client.send(request, stream=True)

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
        headers = [(k, v) for k, v in response.headers.raw if k.lower() not in _BODY_HEADERS]
        headers.append((b"content-type", b"application/json"))
        return httpx.Response(status, content=body, headers=headers)
