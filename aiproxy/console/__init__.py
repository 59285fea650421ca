"""The admin web console: a prebuilt single-page app served next to the admin API.

The Vue source lives in ``frontend/``; its build output in ``dist/`` ships with
the package, so running the gateway needs no Node.
"""

from __future__ import annotations

from .static import DIST_DIR, console_app

__all__ = ["DIST_DIR", "console_app"]
