"""GET models on each platform, narrowed to the models the caller's key may use."""

from __future__ import annotations

from typing import AsyncIterator

import httpx
import orjson
import pytest

from aiproxy.routes.model_lists import (
    anthropic_model,
    anthropic_models_for_key,
    anthropic_models_merged,
    gemini_models_for_key,
    openai_models_for_key,
)
from aiproxy.settings import UpstreamURLs
from aiproxy.stores.entities import ApiKey
from tests.harness import UPSTREAM, Harness, start_harness

pytestmark = pytest.mark.anyio

OPENAI_UPSTREAM = "http://openai.test"
GEMINI_UPSTREAM = "http://gemini.test"
CLAUDE_IDS = ["claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5"]
OPENAI_IDS = ["gpt-4o", "gpt-4.1-mini", "gpt-4.1"]
GEMINI_IDS = ["gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.0-flash"]


def upstream(request: httpx.Request) -> httpx.Response:
    host = f"http://{request.url.host}"
    if host == UPSTREAM:
        data = [{"type": "model", "id": i, "display_name": i} for i in CLAUDE_IDS]
        return httpx.Response(200, json={"data": data, "has_more": False,
                                         "first_id": CLAUDE_IDS[0], "last_id": CLAUDE_IDS[-1]})
    if host == OPENAI_UPSTREAM:
        return httpx.Response(200, json={"object": "list", "data": [
            {"id": i, "object": "model", "owned_by": "openai"} for i in OPENAI_IDS]})
    if host == GEMINI_UPSTREAM:
        return httpx.Response(200, json={"models": [
            {"name": f"models/{i}", "displayName": i} for i in GEMINI_IDS], "nextPageToken": "tok"})
    return httpx.Response(404)


@pytest.fixture
async def h(anyio_backend: str) -> AsyncIterator[Harness]:
    urls = UpstreamURLs(anthropic=UPSTREAM, openai=OPENAI_UPSTREAM, gemini=GEMINI_UPSTREAM)
    async with start_harness(httpx.MockTransport(upstream), upstream=urls) as harness:
        await harness.add_account(name="openai-1", platform="openai", type="openai", credentials={"api_key": "sk-x"})
        await harness.add_account(name="gemini-1", platform="gemini", type="gemini-api",
                                  credentials={"api_key": "AIza-x"})
        yield harness


async def test_claude_models_filtered_by_the_keys_models(h: Harness) -> None:
    plain, _ = await h.add_key(models=["claude-sonnet-*", "claude-haiku-4-5"])
    r = await h.http.get("/claude/v1/models", headers={"x-api-key": plain})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [m["id"] for m in body["data"]] == ["claude-sonnet-4-5", "claude-haiku-4-5"]
    assert (body["first_id"], body["last_id"], body["has_more"]) == ("claude-sonnet-4-5", "claude-haiku-4-5", False)
    assert int(r.headers["content-length"]) == len(r.content)


async def test_openai_models_filtered_by_the_keys_models(h: Harness) -> None:
    plain, _ = await h.add_key(models=["gpt-4.1*"])
    r = await h.http.get("/openai/v1/models", headers={"authorization": f"Bearer {plain}"})
    assert r.status_code == 200, r.text
    assert r.json() == {"object": "list", "data": [{"id": "gpt-4.1-mini", "object": "model", "owned_by": "openai"},
                                                   {"id": "gpt-4.1", "object": "model", "owned_by": "openai"}]}


@pytest.mark.parametrize("version", ["v1beta", "v1"])
async def test_gemini_models_filtered_by_the_keys_models(h: Harness, version: str) -> None:
    plain, _ = await h.add_key(models=["gemini-2.5-*"])
    r = await h.http.get(f"/gemini/{version}/models", headers={"x-goog-api-key": plain})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [m["name"] for m in body["models"]] == ["models/gemini-2.5-flash", "models/gemini-2.5-pro"]
    assert body["nextPageToken"] == "tok"


@pytest.mark.parametrize("path,field,count", [
    ("/claude/v1/models", "data", 3), ("/openai/v1/models", "data", 3), ("/gemini/v1beta/models", "models", 3)])
async def test_a_key_without_models_sees_the_whole_list(h: Harness, path: str, field: str, count: int) -> None:
    r = await h.http.get(path, headers={"x-api-key": h.key})
    assert r.status_code == 200, r.text
    assert len(r.json()[field]) == count


async def test_a_key_allowed_none_of_the_models_gets_an_empty_list(h: Harness) -> None:
    plain, _ = await h.add_key(models=["nothing-*"])
    r = await h.http.get("/claude/v1/models", headers={"x-api-key": plain})
    assert r.json()["data"] == [] and r.json()["first_id"] is None and r.json()["last_id"] is None


def test_bodies_that_are_not_lists_pass_unchanged() -> None:
    key = ApiKey(user_id=1, name="k", key_hash="h", key_prefix="p", models=["x"])
    for rewrite in (anthropic_models_for_key, openai_models_for_key, gemini_models_for_key):
        assert rewrite(b"not json", key) == b"not json"
        assert rewrite(b'{"error": {}}', key) == b'{"error": {}}'
        assert rewrite(b"[1]", key) == b"[1]"


def _page(ids: list[str], has_more: bool = False) -> bytes:
    return orjson.dumps({"data": [{"type": "model", "id": i} for i in ids], "has_more": has_more,
                         "first_id": ids[0] if ids else None, "last_id": ids[-1] if ids else None})


def test_translated_models_join_the_last_page_once() -> None:
    merged = orjson.loads(anthropic_models_merged(_page(["claude-a", "gpt-x"]), ["gpt-x", "gemini-y"]))
    assert [m["id"] for m in merged["data"]] == ["claude-a", "gpt-x", "gemini-y"]
    assert merged["data"][-1] == anthropic_model("gemini-y")
    assert (merged["first_id"], merged["last_id"], merged["has_more"]) == ("claude-a", "gemini-y", False)
    # A page with more after it is left as it is: they come after the last one.
    assert anthropic_models_merged(_page(["claude-a"], has_more=True), ["gpt-x"]) == _page(["claude-a"], True)
    assert anthropic_models_merged(_page(["claude-a"]), []) == _page(["claude-a"])
    for raw in (b"not json", b'{"error": {}}', b"[1]"):
        assert anthropic_models_merged(raw, ["gpt-x"]) == raw


def test_without_an_upstream_list_the_translated_models_are_the_list() -> None:
    assert orjson.loads(anthropic_models_merged(None, ["gpt-x", "gpt-x"])) == {
        "data": [anthropic_model("gpt-x")], "has_more": False, "first_id": "gpt-x", "last_id": "gpt-x"}
    assert orjson.loads(anthropic_models_merged(None, [])) == {
        "data": [], "has_more": False, "first_id": None, "last_id": None}
