"""The examples run as documented: the embedded gateway answers under the host's mount."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from starlette.testclient import TestClient

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load(name: str):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gateway_mounted_in_a_host_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    host = load("embed_in_starlette").build_host()
    with TestClient(host) as client:  # runs the host's lifespan, and so the gateway's
        assert client.get("/").text.startswith("the host app")
        r = client.post("/ai/admin/api/login", json={"username": "admin", "password": "admin123"})
        assert r.status_code == 200 and r.json()["must_change_password"] is True
        r = client.post("/ai/claude/v1/messages", json={}, headers={"x-api-key": "ap-nope"})
        assert r.status_code == 401 and r.json()["type"] == "error"
        assert client.get("/ai/health").json()["status"] == "ok"
    assert (tmp_path / "host-aiproxy.db").exists()


def test_in_memory_example_seeds_a_working_key(monkeypatch: pytest.MonkeyPatch):
    import anyio

    from aiproxy.security.api_keys import hash_api_key
    from aiproxy.testing import Seed

    example = load("in_memory")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-from-env")
    values = Seed()
    stores, cipher = values.stores, values.cipher
    key = anyio.run(example.seed, values)
    found = anyio.run(stores.keys.get_by_hash, hash_api_key(key))
    assert found is not None and found.name == "demo"
    [account] = anyio.run(stores.accounts.list)
    assert cipher.decrypt(account.credentials) == {"api_key": "sk-ant-from-env"}
