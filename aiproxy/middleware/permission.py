"""Permission: may this key use this platform, from this client, and this model?"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from ..context import api_key
from ..errors import error_response
from ..formats.dialect import Dialect
from ..inbound import BadRequest, read_inbound
from ..key_models import model_allowed
from ..stores.entities import ApiKey


def shown(model: str, limit: int = 200) -> str:
    """A client's model name as an error message may quote it: a 1 MB name is not echoed back whole."""
    return model if len(model) <= limit else model[:limit] + "…"


def client_of(scope: Scope) -> str | None:
    """Which client program (one of entities.CLIENTS) sent the request, by its headers; None: another one.

    Claude Code: `user-agent: claude-cli/…` or `x-app: cli`; Codex CLI: an
    `originator` header starting `codex_` or a user-agent starting `codex_`;
    Gemini CLI: a user-agent containing `GeminiCLI` or `gemini-cli`.
    """
    headers = {name: value.decode("latin-1") for name, value in scope["headers"]}
    agent = headers.get(b"user-agent", "")
    if agent.startswith("claude-cli/") or headers.get(b"x-app", "").strip().lower() == "cli":
        return "claude-code"
    if headers.get(b"originator", "").startswith("codex_") or agent.startswith("codex_"):
        return "codex-cli"
    if "GeminiCLI" in agent or "gemini-cli" in agent:
        return "gemini-cli"
    return None


def client_allowed(key: ApiKey, scope: Scope) -> bool:
    return not key.allowed_clients or client_of(scope) in key.allowed_clients


class PermissionMiddleware:
    def __init__(
        self, app: ASGIApp, *, platform: str, dialect: Dialect, max_request_bytes: int,
        reaches: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.platform = platform
        # A key's `platforms` names the account platforms it may reach: here the
        # route's own, and those its requests may be translated for. Which of
        # them serves is the relay's to say (it refuses, 403, a request whose
        # accounts are all of platforms the key may not reach).
        self.reaches = reaches
        self.dialect = dialect
        self.max_request_bytes = max_request_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        key = api_key(scope)
        denial = None
        if not key.enabled:
            denial = "API key is disabled"
        elif key.platforms and self.platform not in key.platforms and self.reaches.isdisjoint(key.platforms):
            denial = f"API key may not use the {self.platform} platform"
        elif not client_allowed(key, scope):
            denial = f"API key may only be used from {', '.join(key.allowed_clients)} (its allowed_clients rule)"
        elif key.models:
            try:
                inbound = await read_inbound(scope, receive, self.max_request_bytes)
            except BadRequest as exc:
                if exc.status != 499:
                    await error_response(self.dialect, exc.status, exc.message)(scope, receive, send)
                return
            model = self.dialect.requested_model(scope["path"], inbound.model)
            if model and not model_allowed(key, model):
                denial = f"API key may not use model {shown(model)}"
        if denial:
            await error_response(self.dialect, 403, denial)(scope, receive, send)
            return
        await self.app(scope, receive, send)
