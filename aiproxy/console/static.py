"""Serve the console's built files (``dist/``) as an ASGI app.

The app is meant to be mounted at ``/admin`` (after the ``/admin/api`` mount,
which must win). The page reaches the API with paths relative to itself, so
the mount prefix can be anything.
"""

from __future__ import annotations

from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from ..security_headers import CONSOLE_HEADERS, SecurityHeaders

DIST_DIR = Path(__file__).resolve().parent / "dist"

# Vite puts a content hash in every file name under assets/, so a given URL
# never changes content: browsers may keep it for a year without asking again.
IMMUTABLE = "public, max-age=31536000, immutable"
# index.html names the current hashed assets; it must be revalidated on every
# load, or a browser would keep running an old build after an upgrade.
NO_CACHE = "no-cache"

NOT_BUILT = (
    "The admin console has not been built: {index} is missing.\n"
    "Build it with: cd aiproxy/console/frontend && npm ci && npm run build\n"
)


class _ConsoleFiles(StaticFiles):
    """StaticFiles with cache headers chosen per file."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        try:
            response = await super().get_response(path, scope)
        except HTTPException as exc:
            # Answered here rather than raised, so a 404 or 405 passes through
            # this app's security headers like every other answer.
            return PlainTextResponse(str(exc.detail), status_code=exc.status_code, headers=exc.headers)
        # Only successful answers get a cache policy: a 404 must not be cached
        # as if it were the file (it may appear with the next build).
        if response.status_code in (200, 304):
            # ``path`` is normalised by StaticFiles.get_path (os separators).
            first = Path(path).parts[0] if Path(path).parts else ""
            response.headers["Cache-Control"] = IMMUTABLE if first == "assets" else NO_CACHE
        return response


class _Console:
    """Serves ``directory`` once it holds an index.html, a 503 until then.

    The check is made per request rather than once at start-up, so a console
    built while the gateway runs is served without a restart, and a gateway
    installed without the built files still starts (and says what to do)
    instead of failing with a 500.
    """

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._files: _ConsoleFiles | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        index = self._directory / "index.html"
        if scope["type"] != "http" or not index.is_file():
            if scope["type"] == "http":
                response = PlainTextResponse(NOT_BUILT.format(index=index), status_code=503)
                await response(scope, receive, send)
            return
        if self._files is None:
            self._files = _ConsoleFiles(directory=self._directory, html=True)
        await self._files(scope, receive, send)


def console_app(directory: Path | str | None = None) -> ASGIApp:
    """The console as an ASGI app; ``directory`` defaults to the packaged ``dist/``.

    Every answer carries the console's security headers (a strict CSP, no
    framing, no sniffing, no referrer): see aiproxy/security_headers.py.
    """
    return SecurityHeaders(_Console(Path(directory) if directory is not None else DIST_DIR), CONSOLE_HEADERS)
