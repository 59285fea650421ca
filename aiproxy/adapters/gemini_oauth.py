"""Gemini OAuth accounts: a Google login of Gemini CLI ("Login with Google"), served by Code Assist.

The routes speak the native Gemini API (`/v1beta/models/{model}:{method}`);
this adapter sends the same call to Code Assist (`{base}/v1internal:{method}`,
formats/code_assist.py), with the account's Google access token as Bearer,
and hands back an httpx.Response in the native shape: a non-streamed answer
unwrapped, a stream unwrapped event by event as it passes (as SSE for
`alt=sse` clients, as the native JSON array for the others). So the gemini
routes, their usage taps and the OpenAI chat translation work unchanged.
Code Assist lists no models: `GET models` and `models/{model}` are answered
here from the account's `models` (else a default list), with no upstream call.

The token comes from the TokenManager (refreshed before it expires, and once
more if Code Assist refuses it with a 401). The Code Assist project is the
account's `options.project_id`, else asked once of `loadCodeAssist` and kept
in this process's memory per account and login (not stored: a restart asks
again, once; a re-login with another Google account is asked anew).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, AsyncIterator

import httpx
import orjson

from ..formats import code_assist, gemini
from ..oauth.tokens import TokenError, TokenManager
from ..stores.entities import Account
from .base import UpstreamCall

# Headers of Code Assist's answer that no longer describe the body handed on.
_BODY_HEADERS = {"content-length", "content-encoding", "content-type", "transfer-encoding"}


def _error_response(status: int, message: str) -> httpx.Response:
    # Answered as if from the upstream, in Google's shape, so the relay passes
    # it on (and records it) like any upstream error.
    return httpx.Response(status, content=gemini.error_body(status, message),
                          headers={"content-type": "application/json"})


def _models_response(account: Account, path: str) -> httpx.Response:
    # Code Assist has no model listing: answered here, from the account's models.
    models = [*account.models, *(m for m in account.model_mapping if m not in account.models)]
    models = models or list(code_assist.DEFAULT_MODELS)
    _, found, model = path.partition("/models/")
    if not found:
        body = code_assist.model_list(models)
    elif model in models:
        body = orjson.dumps(code_assist.model_info(model))
    else:
        return _error_response(404, f"model {model!r} is not served by this account")
    return httpx.Response(200, content=body, headers={"content-type": "application/json; charset=UTF-8"})


def _headers(upstream: httpx.Response, content_type: str) -> list[tuple[str, str]]:
    kept = [(k, v) for k, v in upstream.headers.multi_items() if k.lower() not in _BODY_HEADERS]
    return [*kept, ("content-type", content_type)]


class _UnwrappedStream(httpx.AsyncByteStream):
    """Code Assist's SSE answer, unwrapped chunk by chunk; closing it closes the upstream."""

    def __init__(self, upstream: httpx.Response, unwrapper: code_assist.StreamUnwrapper) -> None:
        self._upstream = upstream
        self._unwrapper = unwrapper

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._upstream.aiter_bytes():
            out = self._unwrapper.feed(chunk)
            if out:
                yield out
        tail = self._unwrapper.end()
        if tail:
            yield tail

    async def aclose(self) -> None:
        await self._upstream.aclose()


@dataclass
class _Auth:
    """The access token of one request, replaced if Code Assist refuses it."""

    account: Account
    credentials: dict[str, Any]
    token: str


class GeminiOAuthAdapter:

    def __init__(self, client: httpx.AsyncClient, base_url: str, tokens: TokenManager) -> None:
        self._client = client
        self._base_url = base_url
        self._tokens = tokens
        # (account id, its login) -> Code Assist project, found by loadCodeAssist.
        self._projects: dict[tuple[int | None, str], str] = {}
        self._project_locks: dict[int | None, asyncio.Lock] = {}

    async def send(self, account: Account, credentials: dict[str, Any], call: UpstreamCall) -> httpx.Response:
        if call.method == "GET":
            return _models_response(account, call.path)
        target = code_assist.split_path(call.path)
        if target is None or target[1] not in code_assist.METHODS:
            what = f"{target[1]!r}" if target else call.path
            return _error_response(501, f"gemini-oauth accounts (Code Assist) do not serve {what}")
        model, method, fixed_query = target
        if call.json is None:
            return _error_response(400, "the request body must be a JSON object")
        try:
            auth = _Auth(account, credentials, await self._tokens.access_token(account, credentials))
        except TokenError as exc:
            return _error_response(exc.status, exc.message)
        base = (account.base_url or self._base_url).rstrip("/")
        headers = [(k, v) for k, v in call.headers if k.lower() != b"content-type"]
        headers += [(b"content-type", b"application/json"), (b"accept-encoding", b"identity")]

        if method == "countTokens":
            body = code_assist.wrap_count_tokens(call.json, model)
        else:
            project = await self._project(auth, base, headers)
            if isinstance(project, httpx.Response):
                return project
            body = code_assist.wrap_generate(call.json, model, project)
        stream = method == "streamGenerateContent"
        url = f"{base}/v1internal:{method}" + ("?alt=sse" if stream else "")
        response = await self._post(auth, url, orjson.dumps(body), headers)
        if response.status_code >= 400:
            return response  # Google-shaped errors, passed on as they are
        if stream:
            sse = code_assist.wants_sse(fixed_query, call.query)
            unwrapper = code_assist.StreamUnwrapper(sse=sse)
            content_type = "text/event-stream" if sse else "application/json; charset=UTF-8"
            return httpx.Response(response.status_code, headers=_headers(response, content_type),
                                  stream=_UnwrappedStream(response, unwrapper), request=response.request)
        try:
            raw = await response.aread()
        finally:
            await response.aclose()
        return httpx.Response(response.status_code, headers=_headers(response, "application/json; charset=UTF-8"),
                              content=code_assist.unwrap_body(raw), request=response.request)

    async def _post(self, auth: _Auth, url: str, body: bytes,
                    headers: list[tuple[bytes, bytes]]) -> httpx.Response:
        """POST with the Bearer token; refused (401) although it looked fresh, the
        token is refreshed once and the call sent again."""
        for retry in (False, True):
            request = self._client.build_request(
                "POST", url, content=body,
                headers=[*headers, (b"authorization", b"Bearer " + auth.token.encode())])
            response = await self._client.send(request, stream=True)
            if response.status_code != 401 or retry:
                return response
            await response.aclose()
            try:
                auth.token = await self._tokens.access_token(auth.account, auth.credentials, rejected=auth.token)
            except TokenError as exc:
                return _error_response(exc.status, exc.message)
        raise AssertionError("unreachable")

    async def _project(self, auth: _Auth, base: str,
                       headers: list[tuple[bytes, bytes]]) -> str | httpx.Response:
        """The account's Code Assist project, or the error answer saying why there is none."""
        configured = auth.account.options.get("project_id")
        if isinstance(configured, str) and configured.strip():
            return configured.strip()
        login = str(auth.credentials.get("refresh_token") or auth.credentials.get("access_token") or "")
        key = (auth.account.id, login)
        if key in self._projects:
            return self._projects[key]
        # One discovery per account at a time: concurrent first requests share it.
        async with self._project_locks.setdefault(auth.account.id, asyncio.Lock()):
            if key in self._projects:
                return self._projects[key]
            response = await self._post(auth, f"{base}/v1internal:loadCodeAssist",
                                        orjson.dumps(code_assist.LOAD_CODE_ASSIST_BODY), headers)
            if response.status_code >= 400:
                return response
            try:
                raw = await response.aread()
            finally:
                await response.aclose()
            project = code_assist.project_from_load(raw)
            if project is None:
                return _error_response(
                    403,
                    f"upstream account {auth.account.name!r} (id {auth.account.id}): Code Assist named no project "
                    "for this Google login; set the account's options.project_id, or log in once with "
                    "Gemini CLI to set the account up")
            # Only this account's projects are kept: an older login's entry goes.
            for old in [k for k in self._projects if k[0] == auth.account.id]:
                del self._projects[old]
            self._projects[key] = project
            return project
