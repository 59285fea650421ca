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
