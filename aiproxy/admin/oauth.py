"""OAuth logins of subscription accounts: admin only.

`POST /oauth/{type}/start` gives an authorize URL to open; the admin logs in
there and pastes the code (or the whole callback URL) into
`POST /oauth/{type}/finish`, which exchanges it for tokens and creates the
account (or, with `account_id`, re-authorizes an existing one). Tokens are
stored encrypted and never returned; the answer shows only their non-secret
facts (expiry, scopes, which organization).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from ..oauth.exchange import InvalidGrant, OAuthError
from ..oauth.flows import FlowError, OAuthFlows
from ..oauth.providers import OAuthProvider
from ..stores.entities import Account
from ..upstream_proxy import account_proxy
from .accounts import DEFAULT_PRIORITY, PRIORITY_RANGE, SCHEDULING_FIELDS, one_account_json
from .auth import current_admin
from .context import AdminContext
from .errors import ApiError, not_found
from .validation import (
    as_bool,
    as_http_url,
    as_int,
    as_object,
    as_proxy_url,
    as_str,
    as_str_list,
    as_str_map,
    invalid,
    read_object,
    require,
)


def _priority(value: Any) -> int:
    priority = as_int(value, "priority")
    low, high = PRIORITY_RANGE
    if not low <= priority <= high:
        raise invalid("priority", f"must be between {low} and {high}")
    return priority


# The account fields finish takes, each with its check (as POST /accounts has them).
_FIELDS = {
    "name": lambda v: as_str(v, "name"),
    "base_url": lambda v: as_http_url(v, "base_url"),
    "priority": _priority,
    "enabled": lambda v: as_bool(v, "enabled"),
    "models": lambda v: as_str_list(v, "models"),
    "model_mapping": lambda v: as_str_map(v, "model_mapping"),
    "options": lambda v: as_object(v, "options"),
    "proxy": lambda v: as_proxy_url(v, "proxy"),
    **SCHEDULING_FIELDS,
}


def token_facts(credentials: dict[str, Any]) -> dict[str, Any]:
    """What may be shown about stored tokens: never the tokens themselves."""
    facts: dict[str, Any] = {"expires_at": credentials.get("expires_at"), "scopes": credentials.get("scopes")}
    organization = credentials.get("organization")
    if isinstance(organization, dict):
        facts["organization"] = {k: organization[k] for k in ("uuid", "name") if k in organization}
    account = credentials.get("account")
    if isinstance(account, dict):
        facts["account"] = {k: account[k] for k in ("uuid", "email_address") if k in account}
    if credentials.get("chatgpt_account_id"):
        facts["chatgpt_account_id"] = credentials["chatgpt_account_id"]
    return facts


class OAuthEndpoints:
    def __init__(self, ctx: AdminContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/oauth/{type}/start", self.start, methods=["POST"]),
            Route("/oauth/{type}/finish", self.finish, methods=["POST"]),
        ]

    def _flows(self, request: Request) -> tuple[OAuthFlows, OAuthProvider]:
        flows = self.ctx.oauth
        account_type = request.path_params["type"]
        if flows is None:
            raise ApiError(404, "not_found", "OAuth logins are not enabled in this gateway")
        provider = flows.provider(account_type)
        if provider is None:
            raise invalid("type", f"account type {account_type!r} has no OAuth login")
        return flows, provider

    async def start(self, request: Request) -> JSONResponse:
        await current_admin(request, self.ctx)
        flows, provider = self._flows(request)
        try:
            authorization = await flows.start(provider.account_type)
        except FlowError as exc:
            raise ApiError(400, "oauth_error", str(exc)) from None
        return JSONResponse({
            "session_id": authorization.session_id,
            "authorize_url": authorization.authorize_url,
            "expires_in": authorization.expires_in,
        })

    async def finish(self, request: Request) -> JSONResponse:
        await current_admin(request, self.ctx)
        flows, provider = self._flows(request)
        body = await read_object(request)
        session_id = as_str(require(body, "session_id"), "session_id")
        code = as_str(require(body, "code"), "code", max_length=4096)
        fields = {name: check(body[name]) for name, check in _FIELDS.items() if name in body}

        # Everything is checked before the exchange: a code works only once.
        existing: Account | None = None
        if body.get("account_id") is not None:
            account_id = as_int(body["account_id"], "account_id")
            existing = await self.ctx.stores.accounts.get(account_id)
            if existing is None:
                raise not_found("account", account_id)
            if existing.type != provider.account_type:
                raise invalid("account_id", f"account {account_id} is a {existing.type} account, not {provider.account_type}")
        elif "name" not in fields:
            raise invalid("name", "is required (or account_id, to re-authorize an account)")

        try:
            # The code exchange goes through the proxy the account will use.
            proxy = fields["proxy"] if "proxy" in fields else (existing.proxy if existing else None)
            with account_proxy(proxy):
                credentials = await flows.finish(session_id, code, account_type=provider.account_type)
        except FlowError as exc:
            raise ApiError(400, "oauth_error", str(exc)) from None
        except InvalidGrant as exc:
            raise ApiError(400, "oauth_code_rejected", str(exc)) from None
        except OAuthError as exc:
            raise ApiError(502, "oauth_provider_error", str(exc)) from None

        encrypted = self.ctx.cipher.encrypt(credentials)
        if existing is not None:
            for name, value in fields.items():
                setattr(existing, name, value)
            existing.credentials = encrypted
            account = await self.ctx.stores.accounts.update(existing)
            status = 200
        else:
            fields.setdefault("priority", DEFAULT_PRIORITY)
            account = await self.ctx.stores.accounts.create(
                Account(platform=provider.platform, type=provider.account_type, credentials=encrypted, **fields)
            )
            status = 201
        await self.ctx.accounts_changed()
        shown = await one_account_json(self.ctx, account)
        return JSONResponse({**shown, "oauth": token_facts(credentials)}, status_code=status)
