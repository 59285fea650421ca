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

The token is put on by bearer.OAuthBearer (refreshed before it expires, and
once more if Code Assist refuses it with a 401), one per request, shared by
its discovery call and the call itself. The Code Assist project is the
account's `options.project_id`, else asked once of `loadCodeAssist` and kept
in this process's memory per account and login (not stored: a restart asks
again, once; a re-login with another Google account is asked anew).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson

from ..formats import code_assist
from ..formats.dialect import GEMINI
from ..oauth.tokens import TokenError, TokenManager
from ..stores.entities import Account
from . import upstream
from .base import UpstreamCall
from .bearer import OAuthBearer
from .streams import transformed
from .upstream import error_answer

# Google's own JSON content type, as the native API answers.
_JSON = b"application/json; charset=UTF-8"


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
        return error_answer(GEMINI, 404, f"model {model!r} is not served by this account")
    return httpx.Response(200, content=body, headers=[(b"content-type", _JSON)])


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
            return error_answer(GEMINI, 501, f"gemini-oauth accounts (Code Assist) do not serve {what}")
        if call.json is None:
            return error_answer(GEMINI, 400, "the request body must be a JSON object")
        try:
            return await self._send(OAuthBearer(self._tokens, account, credentials), call, call.json, *target)
        except TokenError as exc:
            return error_answer(GEMINI, exc.status, exc.message)

    async def _send(self, auth: OAuthBearer, call: UpstreamCall, data: dict[str, Any],
                    model: str, method: str, fixed_query: str) -> httpx.Response:
        """`call` (its body `data`) sent to Code Assist's `method`, the answer unwrapped."""
        base = auth.account.base_url or self._base_url
        headers = [(k, v) for k, v in call.headers if k.lower() != b"content-type"]
        headers.append((b"content-type", b"application/json"))

        if method == "countTokens":
            body = code_assist.wrap_count_tokens(data, model)
        else:
            project = await self._project(auth, base, headers)
            if isinstance(project, httpx.Response):
                return project
            body = code_assist.wrap_generate(data, model, project)
        stream = method == "streamGenerateContent"
        target = upstream.url(base, f"/v1internal:{method}", "alt=sse" if stream else "")
        response = await upstream.send(self._client, "POST", target, headers, orjson.dumps(body), auth)
        if response.status_code >= 400:
            return response  # Google-shaped errors, passed on as they are
        if stream:
            sse = code_assist.wants_sse(fixed_query, call.query)
            content_type = b"text/event-stream" if sse else _JSON
            unwrapper = code_assist.StreamUnwrapper(sse=sse)
            return transformed(response, unwrapper, upstream.headers_for(response, content_type))
        raw = await upstream.read(response)
        return httpx.Response(response.status_code, headers=upstream.headers_for(response, _JSON),
                              content=code_assist.unwrap_body(raw), request=response.request)

    async def _project(self, auth: OAuthBearer, base: str,
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
            response = await upstream.send(self._client, "POST", upstream.url(base, "/v1internal:loadCodeAssist"),
                                           [*headers], orjson.dumps(code_assist.LOAD_CODE_ASSIST_BODY), auth)
            if response.status_code >= 400:
                return response
            project = code_assist.project_from_load(await upstream.read(response))
            if project is None:
                return error_answer(
                    GEMINI, 403,
                    f"upstream account {auth.account.name!r} (id {auth.account.id}): Code Assist named no project "
                    "for this Google login; set the account's options.project_id, or log in once with "
                    "Gemini CLI to set the account up")
            # Only this account's projects are kept: an older login's entry goes.
            for old in [k for k in self._projects if k[0] == auth.account.id]:
                del self._projects[old]
            self._projects[key] = project
            return project
