"""The gateway serves the console at /admin/, beside (not over) the admin API."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from aiproxy import MemoryStores, create_app
from aiproxy.console import DIST_DIR


@pytest.fixture
def client() -> TestClient:
    with TestClient(create_app(MemoryStores())) as c:
        yield c


def test_admin_redirects_to_the_console(client: TestClient) -> None:
    r = client.get("/admin", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"].endswith("/admin/")


def test_console_index_served(client: TestClient) -> None:
    r = client.get("/admin/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert r.text == (DIST_DIR / "index.html").read_text()
    assert r.headers["cache-control"] == "no-cache"


def test_admin_api_is_not_shadowed(client: TestClient) -> None:
    r = client.get("/admin/api/me")
    assert r.status_code == 401 and r.json()["error"]["type"] == "unauthorized"
    r = client.get("/admin/api/no-such-route")
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found"


def test_console_and_api_carry_the_security_headers(client: TestClient) -> None:
    page = client.get("/admin/")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    api = client.get("/admin/api/me")
    assert api.headers["x-content-type-options"] == "nosniff"
    assert api.headers["x-frame-options"] == "DENY"
    assert "content-security-policy" not in api.headers  # JSON, not a page
