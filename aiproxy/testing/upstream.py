"""What every fake upstream shares: it is a Starlette app, and reached in process through an httpx transport."""

from __future__ import annotations

from typing import Any

import httpx
from starlette.applications import Starlette


class FakeUpstream:
    """A fake upstream API: `app()` its routes, `transport()` for `create_app(..., transport=...)`."""

    requests: list[Any]  # what it was sent, oldest first (each fake's own record type)

    def app(self) -> Starlette:
        raise NotImplementedError

    def transport(self) -> httpx.AsyncBaseTransport:
        # In process, through the ASGI app: nothing leaves the machine, and the
        # fake sees each request as the gateway sent it.
        return httpx.ASGITransport(app=self.app())
