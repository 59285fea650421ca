"""Response headers that tell browsers how to treat the admin console and its API.

The console is a page that holds an admin's session token; these headers keep
other sites from framing it (clickjacking), keep browsers from guessing content
types, keep URLs out of Referer headers, and confine the page to its own
origin (CSP), so an injected script or style could neither load nor phone home.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The built console (aiproxy/console/dist) loads only its own files: module
# scripts and stylesheets from ./assets, and the API on the same origin.
# Scripts: 'self' only, no inline, no eval. Styles: stylesheets and <style>
# elements from 'self' only; style *attributes* are allowed
# (style-src-attr), because ECharts writes its tooltips as HTML with style
# attributes (Vue and Element Plus go through the CSSOM, which CSP does not
# govern). A style attribute cannot run code. Browsers without CSP level 3
# fall back to style-src and draw those tooltips unstyled. The browser test
# (tests/e2e/test_admin_console.py) fails on any violation the console makes.
# img-src allows data: for the icons Element Plus's CSS embeds.
CONSOLE_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "style-src-attr 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

CONSOLE_HEADERS: tuple[tuple[str, str], ...] = (
    ("content-security-policy", CONSOLE_CSP),
    ("x-frame-options", "DENY"),  # frame-ancestors for browsers without CSP level 2
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
)

# JSON answers of the admin API: never sniffed as HTML, never framed.
API_HEADERS: tuple[tuple[str, str], ...] = (
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
)


class SecurityHeaders:
    """Pure-ASGI wrapper: adds `headers` to every HTTP answer of `app` that lacks them."""

    def __init__(self, app: ASGIApp, headers: tuple[tuple[str, str], ...]) -> None:
        self.app = app
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers:
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
