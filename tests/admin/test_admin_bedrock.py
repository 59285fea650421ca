"""Admin API: bedrock accounts (either credential form; a region in the options)."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from aiproxy.admin.context import AdminContext
from aiproxy.stores.memory import MemoryStores

from .conftest import run
from .test_admin_api import assert_error

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

AWS = {"access_key_id": " AKIDEXAMPLE ", "secret_access_key": "secret-key\n", "session_token": "tok"}


def bedrock(**overrides: object) -> dict:
    body: dict = {
        "name": "bedrock-1",
        "platform": "claude",
        "type": "bedrock",
        "credentials": {"api_key": "bedrock-key"},
        "options": {"region": "us-east-1"},
    }
    body.update(overrides)
    return body


def test_both_credential_forms_accepted(
    client: TestClient, admin: dict[str, str], stores: MemoryStores, ctx: AdminContext
) -> None:
    r = client.post("/accounts", json=bedrock(), headers=admin)
    assert r.status_code == 201, r.text
    assert r.json()["options"] == {"region": "us-east-1"}

    options = {"region": " eu-west-3 ", "model_ids": {" house ": " anthropic.x-v1:0 "}, "cross_region_prefix": "eu"}
    r = client.post("/accounts", json=bedrock(name="b2", credentials=AWS, options=options), headers=admin)
    assert r.status_code == 201, r.text
    assert r.json()["options"] == {"region": "eu-west-3", "model_ids": {"house": "anthropic.x-v1:0"},
                                   "cross_region_prefix": "eu"}
    assert "secret-key" not in r.text
    stored = run(stores.accounts.get(r.json()["id"]))
    assert ctx.cipher.decrypt(stored.credentials) == {  # type: ignore[union-attr]
        "access_key_id": "AKIDEXAMPLE", "secret_access_key": "secret-key", "session_token": "tok"}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"credentials": {}}, "credentials"),
        ({"credentials": {"access_key_id": "AKID"}}, "credentials.secret_access_key"),
        ({"credentials": {"secret_access_key": "s"}}, "credentials.access_key_id"),
        ({"credentials": {"api_key": " "}}, "credentials.api_key"),
        ({"credentials": {**AWS, "session_token": 5}}, "credentials.session_token"),
        ({"options": {}}, "options.region"),
        ({"options": {"region": ""}}, "options.region"),
        ({"options": {"region": "moon-1"}}, "options.region"),
        ({"options": {"region": "us-east-1", "model_ids": ["x"]}}, "options.model_ids"),
        ({"options": {"region": "us-east-1", "cross_region_prefix": "u.s"}}, "options.cross_region_prefix"),
    ],
)
def test_invalid_bedrock_accounts(client: TestClient, admin: dict[str, str], overrides: dict, field: str) -> None:
    r = client.post("/accounts", json=bedrock(**overrides), headers=admin)
    assert_error(r, 400, "validation_error", field)


def test_update_keeps_region_required(client: TestClient, admin: dict[str, str]) -> None:
    r = client.post("/accounts", json=bedrock(), headers=admin)
    url = f"/accounts/{r.json()['id']}"
    assert_error(client.patch(url, json={"options": {"cross_region_prefix": "us"}}, headers=admin),
                 400, "validation_error", "options.region")
    r = client.patch(url, json={"options": {"region": "us-west-2", "cross_region_prefix": "us"}}, headers=admin)
    assert r.status_code == 200 and r.json()["options"]["region"] == "us-west-2"
    # A console account turned into a bedrock one must bring a region.
    r = client.post("/accounts", json=bedrock(name="c", type="claude-console", options={}), headers=admin)
    url = f"/accounts/{r.json()['id']}"
    assert_error(client.patch(url, json={"type": "bedrock"}, headers=admin), 400, "validation_error", "options.region")
    r = client.patch(url, json={"type": "bedrock", "options": {"region": "ap-northeast-1"}}, headers=admin)
    assert r.status_code == 200, r.text
