"""Each wire format's fake upstream answers in process through its transport, and records what it was sent."""

from __future__ import annotations

import httpx
import pytest

from aiproxy.testing import FakeAnthropic, FakeBedrock, FakeGemini, FakeOpenAI, FakeUpstream

pytestmark = pytest.mark.anyio
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(("fake", "path", "body", "answer"), [
    (FakeAnthropic(), "/v1/messages", {**CHAT, "max_tokens": 8}, "content"),
    (FakeOpenAI(), "/v1/chat/completions", CHAT, "choices"),
    (FakeOpenAI(), "/v1/responses", {"model": "m", "input": "hi"}, "output"),
    (FakeGemini(), "/v1beta/models/gemini-2.5-flash:generateContent",
     {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}, "candidates"),
    (FakeBedrock(), "/model/claude-x/invoke", {"messages": CHAT["messages"], "max_tokens": 8}, "content"),
])
async def test_each_fake_answers_through_its_transport(
    fake: FakeUpstream, path: str, body: dict[str, object], answer: str
) -> None:
    async with httpx.AsyncClient(transport=fake.transport(), base_url="http://upstream.test") as client:
        r = await client.post(path, json=body)
    assert r.status_code == 200 and answer in r.json()
    assert len(fake.requests) == 1


async def test_a_fail_model_answers_its_status() -> None:
    fake = FakeAnthropic()
    async with httpx.AsyncClient(transport=fake.transport(), base_url="http://upstream.test") as client:
        r = await client.post("/v1/messages", json={**CHAT, "model": "fail-529", "max_tokens": 8})
    assert r.status_code == 529 and r.json()["type"] == "error"


@pytest.mark.parametrize(("fake", "path", "body", "field"), [
    (FakeOpenAI(), "/v1/chat/completions", {**CHAT, "model": "gpt-4o", "max_completion_tokens": 64000},
     "max_completion_tokens"),
    (FakeOpenAI(), "/v1/chat/completions", {**CHAT, "model": "gpt-4o-2024-08-06", "max_tokens": 16385},
     "max_tokens"),
    (FakeOpenAI(), "/v1/responses", {"model": "gpt-4.1", "input": "hi", "max_output_tokens": 32769},
     "max_output_tokens"),
])
async def test_the_openai_fake_refuses_a_limit_above_the_models_cap(
    fake: FakeOpenAI, path: str, body: dict[str, object], field: str
) -> None:
    async with httpx.AsyncClient(transport=fake.transport(), base_url="http://upstream.test") as client:
        refused = await client.post(path, json=body)
        at_cap = await client.post(path, json={**body, field: 16384})
        unknown = await client.post(path, json={**body, "model": "my-model"})
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == field
    assert error["message"].startswith(f"{field} is too large: {body[field]}. This model supports at most ")
    assert at_cap.status_code == 200 and unknown.status_code == 200


async def test_the_gemini_fakes_refuse_a_limit_above_the_models_cap() -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "generationConfig": {"maxOutputTokens": 8193}}
    fake = FakeGemini()
    async with httpx.AsyncClient(transport=fake.transport(), base_url="http://upstream.test") as client:
        refused = await client.post("/v1beta/models/gemini-2.0-flash:generateContent", json=body)
        streamed = await client.post("/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse", json=body)
        at_cap = await client.post("/v1beta/models/gemini-2.5-flash:generateContent", json=body)
    assert refused.status_code == streamed.status_code == 400 and at_cap.status_code == 200
    error = refused.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT" and error["code"] == 400
    assert "maxOutputTokens value of 8193" in error["message"] and "to 8193 (exclusive)" in error["message"]
