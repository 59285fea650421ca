"""The console's static file app: index, hashed assets, caching, missing build."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from aiproxy.console import console_app


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>console</title>", encoding="utf-8")
    (tmp_path / "assets" / "index-abc123.js").write_text("console.log(1)", encoding="utf-8")
    (tmp_path / "favicon.svg").write_text("<svg/>", encoding="utf-8")
    return tmp_path


def client_for(directory: Path) -> TestClient:
    # Mounted under a prefix, as the gateway does.
    return TestClient(Starlette(routes=[Mount("/admin", app=console_app(directory))]))


def test_index_is_served_and_revalidated(dist: Path) -> None:
    client = client_for(dist)
    response = client.get("/admin/")
    assert response.status_code == 200
    assert "<title>console</title>" in response.text
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    assert client.get("/admin/index.html").headers["cache-control"] == "no-cache"


def test_hashed_asset_is_immutable(dist: Path) -> None:
    response = client_for(dist).get("/admin/assets/index-abc123.js")
    assert response.status_code == 200
    assert response.text == "console.log(1)"
    assert "immutable" in response.headers["cache-control"]
    assert "max-age=31536000" in response.headers["cache-control"]


def test_other_top_level_file_is_not_immutable(dist: Path) -> None:
    response = client_for(dist).get("/admin/favicon.svg")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-cache"


def test_unknown_file_is_404(dist: Path) -> None:
    client = client_for(dist)
    response = client.get("/admin/assets/nope.js")
    assert response.status_code == 404
    assert "immutable" not in response.headers.get("cache-control", "")
    assert client.get("/admin/nope.html").status_code == 404


def test_missing_build_answers_503_with_instructions(tmp_path: Path) -> None:
    client = client_for(tmp_path / "dist")
    response = client.get("/admin/")
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("text/plain")
    assert "npm run build" in response.text


def test_build_appearing_later_is_served(tmp_path: Path) -> None:
    client = client_for(tmp_path)
    assert client.get("/admin/").status_code == 503
    (tmp_path / "index.html").write_text("<p>built</p>", encoding="utf-8")
    assert client.get("/admin/").text == "<p>built</p>"


def test_default_directory_is_the_packaged_dist() -> None:
    # Whatever state the packaged build is in, the answer is never a 500.
    response = TestClient(Starlette(routes=[Mount("/admin", app=console_app())])).get("/admin/")
    assert response.status_code in (200, 503)


def test_packaged_build_is_complete_and_relative() -> None:
    # The committed build (aiproxy/console/dist) must name its assets with
    # relative URLs (vite base './', so any mount prefix works) and ship them.
    from aiproxy.console import DIST_DIR

    index = (DIST_DIR / "index.html").read_text(encoding="utf-8")
    refs = re.findall(r'(?:src|href)="([^"]+)"', index)
    assert refs, index
    for ref in refs:
        assert ref.startswith("./"), ref
        assert (DIST_DIR / ref[2:]).is_file(), ref
    assert any(ref.startswith("./assets/") and ref.endswith(".js") for ref in refs)
    client = TestClient(Starlette(routes=[Mount("/admin", app=console_app())]))
    for ref in refs:
        response = client.get("/admin/" + ref[2:])
        assert response.status_code == 200, ref
        expected = "immutable" if ref.startswith("./assets/") else "no-cache"
        assert expected in response.headers["cache-control"], ref


def test_every_answer_carries_the_security_headers(dist: Path) -> None:
    client = client_for(dist)
    for path in ("/admin/", "/admin/assets/index-abc123.js", "/admin/favicon.svg", "/admin/nope.html"):
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp
        assert "default-src 'self'" in csp
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src", 1)[1].split(";")[0]
        assert "connect-src 'self'" in csp
        assert "object-src 'none'" in csp
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"


def test_the_missing_build_page_carries_them_too(tmp_path: Path) -> None:
    response = client_for(tmp_path).get("/admin/")
    assert response.status_code == 503
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
