"""Permission: may this key use this platform and this model?"""

from __future__ import annotations

from fnmatch import fnmatchcase

from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import error_response
from ..formats.dialect import Dialect
from ..inbound import BadRequest, read_inbound
from ..stores.entities import ApiKey
from .auth import STATE_KEY as KEY_STATE


def model_allowed(key: ApiKey, model: str) -> bool:
    # Entries may be exact names or shell-style wildcards ("claude-sonnet-*").
    return not key.models or any(fnmatchcase(model, pattern) for pattern in key.models)


class PermissionMiddleware:
    def __init__(self, app: ASGIApp, *, platform: str, dialect: Dialect, max_request_bytes: int) -> None:
        self.app = app
        self.platform = platform
        self.dialect = dialect
        self.max_request_bytes = max_request_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        key: ApiKey = scope["state"][KEY_STATE]
        denial = None
        if not key.enabled:
            denial = "API key is disabled"
        elif key.platforms and self.platform not in key.platforms:
            denial = f"API key may not use the {self.platform} platform"
        elif key.models:
            try:
                inbound = await read_inbound(scope, receive, self.max_request_bytes)
            except BadRequest as exc:
                if exc.status != 499:
                    await error_response(self.dialect, exc.status, exc.message)(scope, receive, send)
                return
            model = self.dialect.requested_model(scope["path"], inbound.model)
            if model and not model_allowed(key, model):
                denial = f"API key may not use model {model}"
        if denial:
            await error_response(self.dialect, 403, denial)(scope, receive, send)
            return
        await self.app(scope, receive, send)
