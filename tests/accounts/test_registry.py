"""aiproxy/accounts/registry.py: one declaration and one registry line make an account type.

A test-only type, `echo-relay`, is declared here (the one module-level
`ECHO_RELAY`) and added to a gateway by one line (`ACCOUNT_TYPES.plus(ECHO_RELAY)`
handed to create_app). With no other edit, the admin API offers it (GET
/account-types), creates accounts of it with its own credential check, tests
them with its probe, and the relay serves proxied requests through it.
"""

from __future__ import annotations

from typing import Any, AsyncIterator, Mapping

import httpx
import pytest

from aiproxy.accounts import ACCOUNT_TYPES, AccountType, AccountTypes, AdapterDeps, BaseURL, CredentialMode, Field
from aiproxy.accounts.base import ProbeRequest
from aiproxy.adapters.base import UpstreamCall
from aiproxy.admin.validation import invalid
from aiproxy.formats import wire
from aiproxy.settings import OAuthSettings, Settings
from aiproxy.stores.entities import Account
from tests.harness import Harness, start_harness

pytestmark = [pytest.mark.anyio, pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")]

ECHO_BASE = "http://echo.test:8080"
ECHO_TOKEN = "echo-secret-token-1"


class EchoAdapter:
    """An OpenAI-chat upstream that takes its token as `x-echo-token`."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def send(self, account: Account, credentials: dict[str, Any], call: UpstreamCall) -> httpx.Response:
        headers = [*call.headers, (b"x-echo-token", str(credentials["token"]).encode())]
        request = self._client.build_request(call.method, (account.base_url or "") + call.path,
                                             headers=headers, content=call.body or None)
        return await self._client.send(request, stream=True)


def check_echo(credentials: dict[str, Any]) -> dict[str, Any]:
    token = credentials.get("token")
    if not isinstance(token, str) or not token.startswith("echo-"):
        raise invalid("credentials.token", "must start with echo-")
    return {"token": token}


def echo_probe(model: str, credentials: Mapping[str, Any]) -> ProbeRequest:
    return ProbeRequest(wire.CHAT_PATH, {"model": model, "messages": [{"role": "user", "content": "echo?"}]})


# The whole account type: this declaration...
ECHO_RELAY = AccountType(
    name="echo-relay",
    platform="openai",
    label="Echo relay (tests)",
    formats=(wire.OPENAI_CHAT,),
    paths=(wire.CHAT_PATH,),
    credential_modes=(CredentialMode("token", "Echo token", fields=(Field("token", "Token", required=True, secret=True),)),),
    check_credentials=check_echo,
    base_url=BaseURL(example="http://echo.example"),
    options=(Field("flavour", "Flavour", placeholder="plain"),),
    probe=echo_probe,
    probe_model="echo-1",
    models=("echo-1", "echo-2"),
    build=lambda deps: EchoAdapter(deps.client),
)
# ...and its registry line.
TYPES = ACCOUNT_TYPES.plus(ECHO_RELAY)


class EchoUpstream:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        if request.url.host != "echo.test":
            return httpx.Response(599, json={"error": {"message": f"unexpected upstream {request.url}"}})
        if request.headers.get("x-echo-token") != ECHO_TOKEN:
            return httpx.Response(401, json={"error": {"message": "bad echo token"}})
        return httpx.Response(200, json={
            "id": "c-1", "object": "chat.completion", "model": "echo-1",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "echo"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
        })


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def upstream() -> EchoUpstream:
    return EchoUpstream()


@pytest.fixture
async def gateway(upstream: EchoUpstream) -> AsyncIterator[Harness]:
    async with start_harness(httpx.MockTransport(upstream.handler), seed_account=False, account_types=TYPES) as h:
        yield h


async def admin_headers(h: Harness) -> dict[str, str]:
    r = await h.http.post("/admin/api/login", json={"username": "admin", "password": "admin123"})
    assert r.status_code == 200, r.text
    headers = {"authorization": f"Bearer {r.json()['token']}"}
    r = await h.http.post("/admin/api/password", headers=headers,
                          json={"old_password": "admin123", "new_password": "a-new-password-1"})
    assert r.status_code == 200, r.text
    return {"authorization": f"Bearer {r.json()['token']}"}


def echo_account(**fields: Any) -> dict[str, Any]:
    return {"name": "echo-1", "platform": "openai", "type": "echo-relay", "base_url": ECHO_BASE,
            "credentials": {"token": ECHO_TOKEN}, **fields}


async def test_a_declared_type_is_offered_created_tested_and_served(gateway: Harness, upstream: EchoUpstream):
    h = gateway
    admin = await admin_headers(h)

    # Offered: the console's form is rendered from this answer.
    assert (await h.http.get("/admin/api/account-types")).status_code == 401
    r = await h.http.get("/admin/api/account-types", headers=admin)
    assert r.status_code == 200, r.text
    shown = {t["name"]: t for t in r.json()["account_types"]}
    assert list(shown)[-1] == "echo-relay"
    assert shown["echo-relay"] == {
        "name": "echo-relay", "platform": "openai", "label": "Echo relay (tests)",
        "formats": ["openai-chat"], "format_option": None, "paths": ["/v1/chat/completions"],
        "credential_modes": [{"name": "token", "label": "Echo token", "kind": "fields", "placeholder": "", "hint": "",
                              "fields": [{"name": "token", "label": "Token", "kind": "string", "required": True,
                                          "secret": True, "placeholder": ""}]}],
        "base_url": {"default": None, "required": True, "placeholder": "http://echo.example"},
        "options": [{"name": "flavour", "label": "Flavour", "kind": "string", "required": False, "secret": False,
                     "placeholder": "plain"}],
        "oauth": None, "model_prefix": None, "models": ["echo-1", "echo-2"],
    }

    # Created, with its own credential check and its base URL requirement applied.
    r = await h.http.post("/admin/api/accounts", headers=admin,
                          json=echo_account(credentials={"token": "not-an-echo-token"}))
    assert r.status_code == 400 and r.json()["error"]["message"] == "credentials.token: must start with echo-"
    r = await h.http.post("/admin/api/accounts", headers=admin, json=echo_account(base_url=None))
    assert r.status_code == 400 and r.json()["error"]["message"] == "base_url: is required for echo-relay accounts"
    r = await h.http.post("/admin/api/accounts", headers=admin, json=echo_account(platform="claude"))
    assert r.status_code == 400 and "echo-relay" not in r.json()["error"]["message"]  # not a claude type
    r = await h.http.post("/admin/api/accounts", headers=admin, json=echo_account())
    assert r.status_code == 201, r.text
    account_id = r.json()["id"]
    assert upstream.requests == []

    # Tested, with its probe, through its adapter.
    r = await h.http.post(f"/admin/api/accounts/{account_id}/test", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["ok"] is True and r.json()["status"] == 200
    [probe] = upstream.requests
    assert str(probe.url) == ECHO_BASE + "/v1/chat/completions"
    assert probe.headers["x-echo-token"] == ECHO_TOKEN
    assert httpx.Response(200, content=probe.content).json()["messages"][0]["content"] == "echo?"

    # Served: a client's chat request reaches it through the relay.
    body = {"model": "echo-1", "messages": [{"role": "user", "content": "hi"}]}
    r = await h.http.post("/openai/v1/chat/completions", json=body, headers={"authorization": f"Bearer {h.key}"})
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == "echo"
    served = upstream.requests[-1]
    assert served.url.path == "/v1/chat/completions" and served.headers["x-echo-token"] == ECHO_TOKEN
    assert h.key not in str(served.headers)
    [record] = await h.records()
    assert record.account_id == account_id and record.status == 200 and record.input_tokens == 3

    # Its declared paths hold: it is not picked for the models list.
    seen = len(upstream.requests)
    r = await h.http.get("/openai/v1/models", headers={"authorization": f"Bearer {h.key}"})
    assert r.status_code == 503 and len(upstream.requests) == seen


async def test_the_default_gateway_does_not_offer_the_test_type(upstream: EchoUpstream):
    assert "echo-relay" not in ACCOUNT_TYPES
    async with start_harness(httpx.MockTransport(upstream.handler), seed_account=False) as h:
        admin = await admin_headers(h)
        r = await h.http.get("/admin/api/account-types", headers=admin)
        assert "echo-relay" not in {t["name"] for t in r.json()["account_types"]}
        r = await h.http.post("/admin/api/accounts", headers=admin, json=echo_account())
        assert r.status_code == 400
        assert r.json()["error"]["message"] == "type: must be one of openai, azure-openai, openai-responses"


def test_the_registry_lists_the_types_per_platform_in_order():
    # The order the admin API's "must be one of" names them in.
    assert ACCOUNT_TYPES.by_platform() == {
        "claude": ("claude-console", "claude-official", "ccr", "bedrock"),
        "openai": ("openai", "azure-openai", "openai-responses"),
        "gemini": ("gemini-api", "gemini-oauth"),
    }
    assert ACCOUNT_TYPES.limited_paths() == {"openai-responses": ("/v1/responses",)}
    assert ACCOUNT_TYPES.model_prefixes() == {"ccr,": frozenset({"ccr"})}
    providers = ACCOUNT_TYPES.oauth_providers(OAuthSettings())
    assert {name: p.account_type for name, p in providers.items()} == {
        "claude-official": "claude-official", "openai-responses": "openai-responses", "gemini-oauth": "gemini-oauth"}


def test_formats_declared_and_narrowed_by_an_option():
    assert ACCOUNT_TYPES["openai"].speaks({}) == ("openai-chat", "openai-responses")
    assert ACCOUNT_TYPES["openai"].speaks({"chat_only": True}) == ("openai-chat",)
    assert ACCOUNT_TYPES["azure-openai"].speaks({}) == ("openai-chat", "openai-responses")
    assert ACCOUNT_TYPES["openai-responses"].speaks({"chat_only": True}) == ("openai-responses",)
    assert {t.name: t.formats[0] for t in ACCOUNT_TYPES if t.platform == "claude"} == dict.fromkeys(
        ("claude-console", "claude-official", "ccr", "bedrock"), "anthropic-messages")


def test_every_type_builds_its_adapter():
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(500)))
    adapters = TYPES.adapters(AdapterDeps(client, Settings(), tokens=None))  # type: ignore[arg-type]
    assert list(adapters) == [*ACCOUNT_TYPES.names(), "echo-relay"]
    assert all(callable(getattr(a, "send", None)) for a in adapters.values())


@pytest.mark.parametrize("bad", [
    {"name": "claude-console"},  # declared twice
    {"name": "x-1", "platform": "mistral"},  # no such platform
    {"name": "x-2", "credential_modes": ()},  # no way to give credentials
])
def test_the_registry_refuses_a_broken_declaration(bad: dict[str, Any]):
    from dataclasses import replace

    with pytest.raises(ValueError):
        AccountTypes([*ACCOUNT_TYPES, replace(ECHO_RELAY, **bad)])


@pytest.mark.parametrize("account_type", ACCOUNT_TYPES.names())
def test_every_type_checks_its_credentials(account_type: str):
    # Each declaration carries its check: credentials it cannot use are refused, naming the field.
    from aiproxy.admin.errors import ApiError

    with pytest.raises(ApiError) as refused:
        ACCOUNT_TYPES[account_type].check_credentials({"api_key": "", "access_token": ""})
    assert refused.value.status_code == 400 and "credentials" in str(refused.value.detail)
