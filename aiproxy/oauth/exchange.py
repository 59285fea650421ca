"""One request to a provider's token endpoint, and its answer as stored credentials.

Used for both grants: `authorization_code` (finishing a login) and
`refresh_token` (keeping an account's access token fresh).
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from .providers import OAuthProvider

# Token endpoints answer quickly; the shared client's read timeout is sized for
# long generations, far too long to hold a request that waits on a refresh.
TOKEN_TIMEOUT = httpx.Timeout(30.0, connect=10.0)

# What a token answer may carry besides the tokens that is worth keeping:
# Claude names the organization and account, OpenAI gives an id token whose
# claims carry the ChatGPT account id.
_KEPT_FIELDS = ("token_type", "id_token", "organization", "account")


class OAuthError(Exception):
    """A token request failed: the provider was unreachable, or answered with an error."""

    def __init__(self, message: str, *, status: int | None = None, error: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error = error


class InvalidGrant(OAuthError):
    """The provider rejected the code or refresh token: only a new login will do."""


def _error_fields(response: httpx.Response) -> tuple[str | None, str]:
    # RFC 6749 §5.2: {"error": "...", "error_description": "..."}; some
    # providers nest it as {"error": {"type"/"message"}} instead.
    try:
        data = response.json()
    except (ValueError, UnicodeDecodeError):
        return None, response.text[:200]
    if not isinstance(data, dict):
        return None, response.text[:200]
    error = data.get("error")
    if isinstance(error, dict):
        return (str(error.get("type")) if error.get("type") else None), str(error.get("message") or "")
    return (str(error) if error else None), str(data.get("error_description") or "")


async def token_request(client: httpx.AsyncClient, provider: OAuthProvider, fields: dict[str, str]) -> dict[str, Any]:
    """POST `fields` (plus the client id) to the token endpoint; its JSON answer."""
    body = {**fields, "client_id": provider.client_id}
    if provider.client_secret:
        body["client_secret"] = provider.client_secret
    headers = {"accept": "application/json"}
    try:
        if provider.token_encoding == "json":
            response = await client.post(provider.token_url, json=body, headers=headers, timeout=TOKEN_TIMEOUT)
        else:
            response = await client.post(provider.token_url, data=body, headers=headers, timeout=TOKEN_TIMEOUT)
    except httpx.HTTPError as exc:
        raise OAuthError(f"{provider.name} token endpoint unreachable: {type(exc).__name__}: {exc}") from exc
    if response.status_code >= 400:
        error, description = _error_fields(response)
        message = f"{provider.name} token endpoint answered {response.status_code}"
        if error or description:
            message += f": {error or ''}{' - ' if error and description else ''}{description}"
        # 400 invalid_grant is RFC 6749's answer to a used, revoked or expired
        # code or refresh token; a bare 401 means the same in practice.
        if error == "invalid_grant" or response.status_code == 401:
            raise InvalidGrant(message, status=response.status_code, error=error)
        raise OAuthError(message, status=response.status_code, error=error)
    try:
        answer = response.json()
    except (ValueError, json.JSONDecodeError):
        raise OAuthError(f"{provider.name} token endpoint answered something that is not JSON") from None
    if not isinstance(answer, dict) or not isinstance(answer.get("access_token"), str) or not answer["access_token"]:
        raise OAuthError(f"{provider.name} token endpoint answered without an access token")
    return answer


def credentials_from_answer(
    answer: dict[str, Any], now: float, previous: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The credentials to store: access_token, refresh_token, expires_at (epoch
    seconds) and the useful extras. A refresh answer updates `previous`: a
    provider that does not rotate refresh tokens (Google) keeps the old one, and
    facts only the login answer gave (organization, account) are kept."""
    credentials = dict(previous or {})
    credentials.pop("expires_at", None)  # never keep a stale expiry
    credentials["access_token"] = answer["access_token"]
    if isinstance(answer.get("refresh_token"), str) and answer["refresh_token"]:
        credentials["refresh_token"] = answer["refresh_token"]
    expires_in = answer.get("expires_in")
    if isinstance(expires_in, (int, float)) and not isinstance(expires_in, bool):
        credentials["expires_at"] = int(now + expires_in)
    if isinstance(answer.get("scope"), str):
        credentials["scopes"] = answer["scope"].split()
    for name in _KEPT_FIELDS:
        if answer.get(name) is not None:
            credentials[name] = answer[name]
    return credentials
