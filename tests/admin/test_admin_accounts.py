"""Admin API: /accounts (admin only; credentials are write-only)."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from aiproxy.admin.context import AdminContext
from aiproxy.stores.memory import MemoryStores

from .conftest import Events, run
from .test_admin_api import assert_error

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

API_KEY = "sk-ant-api03-secret-value-123"
NEW_API_KEY = "sk-ant-api03-rotated-value-456"


def valid_account(**overrides: object) -> dict:
    body: dict = {
        "name": "console-1",
        "platform": "claude",
        "type": "claude-console",
        "credentials": {"api_key": API_KEY},
    }
    body.update(overrides)
    return body


class SecretWatch:
    """Every response text, so a test can assert a secret never appeared in any of them."""

    def __init__(self, client: TestClient, headers: dict[str, str]) -> None:
        self.client, self.headers, self.texts = client, headers, []  # type: ignore[var-annotated]

    def __call__(self, method: str, path: str, **kwargs: object):
        r = self.client.request(method, path, headers=self.headers, **kwargs)  # type: ignore[arg-type]
        self.texts.append(r.text)
        return r

    def assert_absent(self, *secrets: str) -> None:
        for text in self.texts:
            for secret in secrets:
                assert secret not in text


def test_account_crud_never_returns_credentials(
    client: TestClient, admin: dict[str, str], stores: MemoryStores, ctx: AdminContext, events: Events
) -> None:
    call = SecretWatch(client, admin)

    r = call("POST", "/accounts", json=valid_account(base_url="https://api.example.com", models=["claude-x"]))
    assert r.status_code == 201, r.text
    created = r.json()
    assert created == {
        "id": created["id"],
        "name": "console-1",
        "platform": "claude",
        "type": "claude-console",
        "base_url": "https://api.example.com",
        "priority": 50,
        "enabled": True,
        "models": ["claude-x"],
        "model_mapping": {},
        "options": {},
        "proxy": None,
        "weight": 1,
        "max_concurrency": None,
        "schedulable": True,
        "group": None,
        "has_credentials": True,
        "created_at": created["created_at"],
        "updated_at": created["updated_at"],
        "status": None,  # no monitor in this context
        "today": {"requests": 0, "input_tokens": 0, "output_tokens": 0, "cache_creation_tokens": 0,
                  "cache_read_tokens": 0},
    }
    assert events.account_changes == 1

    stored = run(stores.accounts.get(created["id"]))
    assert stored is not None
    encrypted = stored.credentials
    assert API_KEY not in encrypted
    assert ctx.cipher.decrypt(encrypted) == {"api_key": API_KEY}

    assert call("GET", "/accounts").json()["accounts"] == [created]
    assert call("GET", f"/accounts/{created['id']}").json() == created

    # PATCH without credentials keeps them.
    r = call("PATCH", f"/accounts/{created['id']}", json={"priority": 10, "enabled": False, "base_url": None})
    assert r.status_code == 200, r.text
    assert (r.json()["priority"], r.json()["enabled"], r.json()["base_url"]) == (10, False, None)
    assert run(stores.accounts.get(created["id"])).credentials == encrypted  # type: ignore[union-attr]
    assert events.account_changes == 2

    # PATCH with credentials replaces them.
    r = call("PATCH", f"/accounts/{created['id']}", json={"credentials": {"api_key": NEW_API_KEY}})
    assert r.status_code == 200 and r.json()["has_credentials"] is True
    rotated = run(stores.accounts.get(created["id"])).credentials  # type: ignore[union-attr]
    assert ctx.cipher.decrypt(rotated) == {"api_key": NEW_API_KEY}
    assert events.account_changes == 3

    assert call("DELETE", f"/accounts/{created['id']}").json() == {"ok": True}
    assert events.account_changes == 4
    assert_error(call("GET", f"/accounts/{created['id']}"), 404, "not_found")
    assert_error(call("DELETE", f"/accounts/{created['id']}"), 404)
    assert events.account_changes == 4  # nothing changed, nothing announced

    call.assert_absent(API_KEY, NEW_API_KEY, encrypted, rotated)


@pytest.mark.parametrize(
    "overrides,field",
    [
        ({"name": ""}, "name"),
        ({"platform": "azure"}, "platform"),
        ({"type": "claude-oauth"}, "type"),
        ({"platform": "openai", "type": "claude-console"}, "type"),
        ({"credentials": {}}, "credentials.api_key"),
        ({"credentials": {"api_key": "  "}}, "credentials.api_key"),
        ({"credentials": {"api_key": 42}}, "credentials.api_key"),
        ({"credentials": "sk-plain-string"}, "credentials"),
        ({"base_url": "ftp://example.com"}, "base_url"),
        ({"base_url": "not a url"}, "base_url"),
        ({"base_url": "https://"}, "base_url"),
        ({"priority": "high"}, "priority"),
        ({"priority": True}, "priority"),
        ({"priority": -1}, "priority"),
        ({"enabled": 1}, "enabled"),
        ({"models": "claude-x"}, "models"),
        ({"models": ["ok", ""]}, "models"),
        ({"model_mapping": ["a", "b"]}, "model_mapping"),
        ({"model_mapping": None}, "model_mapping"),
        ({"model_mapping": {"a": 1}}, "model_mapping"),
        ({"model_mapping": {"a": ""}}, "model_mapping"),
        ({"model_mapping": {" ": "b"}}, "model_mapping"),
        ({"model_mapping": {"a": {"b": "c"}}}, "model_mapping"),
        ({"model_mapping": {"a": "x", " a ": "y"}}, "model_mapping"),
        ({"options": "region=eu"}, "options"),
        ({"options": None}, "options"),
        ({"options": [1, 2]}, "options"),
        ({"proxy": "ftp://proxy.example"}, "proxy"),
        ({"proxy": "socks4://proxy.example:1080"}, "proxy"),
        ({"proxy": "proxy.example:3128"}, "proxy"),
        ({"proxy": "socks5://"}, "proxy"),
        ({"proxy": "http://proxy.example:port"}, "proxy"),
        ({"proxy": ""}, "proxy"),
        ({"proxy": 3128}, "proxy"),
    ],
)
def test_create_validation_400(
    client: TestClient, admin: dict[str, str], events: Events, overrides: dict, field: str
) -> None:
    r = client.post("/accounts", json=valid_account(**overrides), headers=admin)
    error = assert_error(r, 400, "validation_error")
    assert error["message"].startswith(field + ":"), error["message"]
    assert events.account_changes == 0


@pytest.mark.parametrize("missing", ["name", "platform", "type", "credentials"])
def test_create_missing_field_400(client: TestClient, admin: dict[str, str], missing: str) -> None:
    body = valid_account()
    del body[missing]
    assert_error(client.post("/accounts", json=body, headers=admin), 400, "validation_error", missing)


def test_patch_validation_400_leaves_account_alone(
    client: TestClient, admin: dict[str, str], stores: MemoryStores, events: Events
) -> None:
    created = client.post("/accounts", json=valid_account(), headers=admin).json()
    before = run(stores.accounts.get(created["id"]))
    for body, field in [
        ({"credentials": {"key": "x"}}, "credentials.api_key"),
        ({"platform": "gemini"}, "type"),
        ({"base_url": "javascript:alert(1)"}, "base_url"),
        ({"name": "renamed", "priority": 5000}, "priority"),
        ({"model_mapping": {"a": None}}, "model_mapping"),
        ({"options": "x"}, "options"),
        ({"proxy": "mailto:a@b.c"}, "proxy"),
        ({"proxy": "http://ok.example", "options": 1}, "options"),
    ]:
        r = client.patch(f"/accounts/{created['id']}", json=body, headers=admin)
        assert_error(r, 400, "validation_error", field)
    assert run(stores.accounts.get(created["id"])) == before
    assert events.account_changes == 1


def test_extra_credential_fields_are_kept_encrypted(
    client: TestClient, admin: dict[str, str], stores: MemoryStores, ctx: AdminContext
) -> None:
    creds = {"api_key": f" {API_KEY}\n", "note": "team A"}
    created = client.post("/accounts", json=valid_account(credentials=creds), headers=admin).json()
    stored = run(stores.accounts.get(created["id"]))
    # The pasted whitespace is trimmed: it would break the upstream header.
    assert ctx.cipher.decrypt(stored.credentials) == {"api_key": API_KEY, "note": "team A"}  # type: ignore[union-attr]


OPTIONS = {
    "region": "eu-west-1",
    "deployments": {"gpt-5": "prod-gpt5", "模型": {"name": "ünïcødé", "weights": [1, 2.5, None, True]}},
    "flag": False,
}


def test_mapping_options_and_proxy_are_stored_and_returned(
    client: TestClient, admin: dict[str, str], stores: MemoryStores, events: Events
) -> None:
    body = valid_account(
        model_mapping={" claude-opus-4 ": " upstream-opus\n", "短名": "長い名前"},
        options=OPTIONS,
        proxy=" socks5h://user:pw@proxy.example:1080 ",
    )
    r = client.post("/accounts", json=body, headers=admin)
    assert r.status_code == 201, r.text
    created = r.json()
    # Mapping keys and values are trimmed; options are kept exactly as sent.
    assert created["model_mapping"] == {"claude-opus-4": "upstream-opus", "短名": "長い名前"}
    assert list(created["model_mapping"]) == ["claude-opus-4", "短名"]
    assert created["options"] == OPTIONS
    # The proxy's password is an upstream credential: stored, never returned.
    assert created["proxy"] == "socks5h://user:***@proxy.example:1080"
    stored = run(stores.accounts.get(created["id"]))
    assert stored is not None
    assert (stored.model_mapping, stored.options, stored.proxy) == (
        created["model_mapping"], OPTIONS, "socks5h://user:pw@proxy.example:1080")
    assert client.get(f"/accounts/{created['id']}", headers=admin).json() == created

    # PATCH replaces each one whole (no merging), and leaves the others alone.
    url = f"/accounts/{created['id']}"
    r = client.patch(url, json={"options": {"project_id": "p-1"}}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["options"] == {"project_id": "p-1"}
    assert r.json()["model_mapping"] == created["model_mapping"] and r.json()["proxy"] == created["proxy"]
    # Sending back the masked URL it was shown keeps the stored password.
    r = client.patch(url, json={"proxy": created["proxy"]}, headers=admin)
    assert r.status_code == 200 and r.json()["proxy"] == created["proxy"]
    assert run(stores.accounts.get(created["id"])).proxy == "socks5h://user:pw@proxy.example:1080"  # type: ignore[union-attr]
    r = client.patch(url, json={"model_mapping": {"a": "b"}, "proxy": "HTTPS://[::1]:8443"}, headers=admin)
    assert (r.json()["model_mapping"], r.json()["proxy"]) == ({"a": "b"}, "HTTPS://[::1]:8443")
    r = client.patch(url, json={"model_mapping": {}, "options": {}, "proxy": None}, headers=admin)
    assert r.status_code == 200, r.text
    assert (r.json()["model_mapping"], r.json()["options"], r.json()["proxy"]) == ({}, {}, None)
    stored = run(stores.accounts.get(created["id"]))
    assert (stored.model_mapping, stored.options, stored.proxy) == ({}, {}, None)  # type: ignore[union-attr]
    assert events.account_changes == 5


@pytest.mark.parametrize(
    "proxy", ["http://proxy:3128", "https://proxy.example", "socks5://10.0.0.1:1080", "socks5h://u:p@h:1"]
)
def test_proxy_schemes_accepted(client: TestClient, admin: dict[str, str], proxy: str) -> None:
    r = client.post("/accounts", json=valid_account(proxy=proxy), headers=admin)
    assert r.status_code == 201, r.text
    assert r.json()["proxy"] == proxy.replace("u:p@", "u:***@")


@pytest.mark.parametrize(("platform", "kind"), [("openai", "openai"), ("gemini", "gemini-api")])
def test_api_key_types_need_an_api_key(client: TestClient, admin: dict[str, str], platform: str, kind: str) -> None:
    body = valid_account(platform=platform, type=kind, credentials={"api_key": "  k-1\n"})
    r = client.post("/accounts", json=body, headers=admin)
    assert r.status_code == 201, r.text
    r = client.post("/accounts", json={**body, "credentials": {"key": "x"}}, headers=admin)
    assert r.status_code == 400 and "credentials.api_key" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    ("platform", "kind", "base_url"),
    [("openai", "azure-openai", "https://res-1.openai.azure.com"), ("claude", "ccr", "http://127.0.0.1:3456")],
)
def test_types_without_a_default_upstream_need_a_base_url(
    client: TestClient, admin: dict[str, str], stores: MemoryStores, events: Events,
    platform: str, kind: str, base_url: str,
) -> None:
    body = valid_account(platform=platform, type=kind, credentials={"api_key": " k-1\n"})
    for missing in ({}, {"base_url": None}, {"base_url": ""}):
        r = client.post("/accounts", json={**body, **missing}, headers=admin)
        assert_error(r, 400, "validation_error", "base_url")
    assert events.account_changes == 0

    options = {"deployments": {"gpt-4o": "prod-4o"}, "api_version": "2024-10-21"} if kind == "azure-openai" else {}
    r = client.post("/accounts", json={**body, "base_url": base_url, "options": options}, headers=admin)
    assert r.status_code == 201, r.text
    created = r.json()
    assert (created["type"], created["base_url"], created["options"]) == (kind, base_url, options)
    r = client.post("/accounts", json={**body, "base_url": base_url, "credentials": {"key": "x"}}, headers=admin)
    assert_error(r, 400, "validation_error", "credentials.api_key")

    # PATCH may not take the base URL away, nor switch to such a type without one.
    before = run(stores.accounts.get(created["id"]))
    r = client.patch(f"/accounts/{created['id']}", json={"base_url": None}, headers=admin)
    assert_error(r, 400, "validation_error", "base_url")
    assert run(stores.accounts.get(created["id"])) == before
    r = client.patch(f"/accounts/{created['id']}", json={"base_url": base_url + "/x"}, headers=admin)
    assert r.status_code == 200 and r.json()["base_url"] == base_url + "/x"

    plain = "openai" if kind == "azure-openai" else "claude-console"
    other = client.post("/accounts", json={**body, "type": plain, "name": "plain"}, headers=admin).json()
    r = client.patch(f"/accounts/{other['id']}", json={"type": kind}, headers=admin)
    assert_error(r, 400, "validation_error", "base_url")
    r = client.patch(f"/accounts/{other['id']}", json={"type": kind, "base_url": base_url}, headers=admin)
    assert r.status_code == 200 and r.json()["type"] == kind
