"""Admin request bodies: parsed by the gateway's one JSON parser, errors in the admin shape."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from aiproxy.admin.validation import MAX_BODY_BYTES
from aiproxy.jsonbody import MAX_DEPTH
from tests.admin.conftest import make_default_admin


def assert_admin_error(r, status: int, error_type: str, words: str) -> None:  # type: ignore[no-untyped-def]
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["type"] == error_type
    assert words in error["message"]


def deep(depth: int) -> bytes:
    return b'{"username":' + b"[" * depth + b"]" * depth + b',"password":"x"}'


@pytest.mark.parametrize("depth", [MAX_DEPTH, 1000, 10_000])
def test_deep_json_on_login_is_a_400(client: TestClient, depth: int) -> None:
    r = client.post("/login", content=deep(depth), headers={"content-type": "application/json"})
    assert_admin_error(r, 400, "invalid_json", "deeper than")


def test_deep_json_on_an_authenticated_route_is_a_400(client: TestClient, admin: dict[str, str]) -> None:
    r = client.post("/keys", content=b"[" * 10_000 + b"]" * 10_000, headers=admin)
    assert_admin_error(r, 400, "invalid_json", "deeper than")


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b'{"username":NaN,"password":"x"}', b'{"username":"\\ud800","password":"x"}', b"\xff\xfe"],
)
def test_invalid_json_is_a_400(client: TestClient, raw: bytes) -> None:
    assert_admin_error(client.post("/login", content=raw), 400, "invalid_json", "not valid JSON")


def test_a_body_that_is_not_an_object_is_a_400(client: TestClient) -> None:
    assert_admin_error(client.post("/login", content=b"[1,2]"), 400, "invalid_json", "must be a JSON object")


def test_a_body_over_the_admin_cap_is_a_413(client: TestClient) -> None:
    r = client.post("/login", content=b" " * (MAX_BODY_BYTES + 1))
    assert_admin_error(r, 413, "payload_too_large", str(MAX_BODY_BYTES))


def test_integers_beyond_64_bits_are_refused_by_field(client: TestClient, admin: dict[str, str]) -> None:
    r = client.post("/keys", json={"name": "k", "rpm_limit": 2**63}, headers=admin)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["type"] == "validation_error"


def test_admin_answers_are_never_sniffed_or_framed(client: TestClient, stores) -> None:  # type: ignore[no-untyped-def]
    make_default_admin(stores)
    for r in (
        client.post("/login", json={"username": "admin", "password": "admin123"}),
        client.post("/login", content=b"{"),
        client.get("/me"),
        client.get("/no-such-route"),
    ):
        assert r.headers["x-content-type-options"] == "nosniff", r.url
        assert r.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize(
    "query",
    ["end=0001-01-01", "start=0001-01-01", "end=9999-12-31", "start=9999-12-31T23:59:59", "end=0001-01-01T00:00:00-23:59"],
)
def test_moments_beyond_the_range_are_a_400(client: TestClient, admin: dict[str, str], query: str) -> None:
    for path in ("/usage", "/usage/series", "/usage/records"):
        r = client.get(f"{path}?{query}", headers=admin)
        assert r.status_code == 400, (path, r.text)
        assert r.json()["error"]["type"] == "validation_error"


def test_moments_inside_the_range_are_taken(client: TestClient, admin: dict[str, str]) -> None:
    r = client.get("/usage?start=1970-01-01&end=8999-12-30", headers=admin)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("ident", [2**63, 10**30])
def test_an_id_no_store_can_hold_is_a_404(client: TestClient, admin: dict[str, str], ident: int) -> None:
    for path in ("/users", "/accounts", "/keys"):
        assert_admin_error(client.get(f"{path}/{ident}", headers=admin), 404, "not_found", str(ident))


def test_query_integers_beyond_64_bits_are_a_400(client: TestClient, admin: dict[str, str]) -> None:
    r = client.get(f"/usage/records?offset={2**63}", headers=admin)
    assert_admin_error(r, 400, "validation_error", "offset")
