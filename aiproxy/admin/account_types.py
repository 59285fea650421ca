"""The account types, as the console's account form needs them: admin only, read-only.

`GET /account-types` answers every type of the gateway's registry
(aiproxy/accounts) with its platform, credential modes and fields, base URL
default, options, OAuth flow and known models; the console renders its form
from this answer instead of knowing the types itself.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from .auth import current_admin
from .context import AdminContext


class AccountTypeEndpoints:
    def __init__(self, ctx: AdminContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[BaseRoute]:
        return [Route("/account-types", self.list_account_types, methods=["GET"])]

    async def list_account_types(self, request: Request) -> JSONResponse:
        await current_admin(request, self.ctx)
        return JSONResponse(self.ctx.account_types.describe(self.ctx.upstream))
