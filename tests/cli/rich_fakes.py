"""Fake upstreams a little richer than the suite's, for trying real CLIs (tests/cli/run_gateway.py --rich).

The suite's fakes answer every generation with the text "Hello, world!". Gemini
CLI (0.61) first asks the model for JSON (its model router's classifier:
`generateContent` with `generationConfig.responseMimeType: application/json`
and a `responseJsonSchema`), and retries, then gives up on routing, when the
answer does not parse. RichGemini answers such requests with JSON that fits the
schema; everything else is the suite's fake unchanged. The Anthropic and OpenAI
fakes were enough for Claude Code and Codex, so they are the suite's own.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.fakes.anthropic_upstream import FakeAnthropic as RichAnthropic
from tests.fakes.gemini_upstream import USAGE, FakeGemini
from tests.fakes.openai_upstream import FakeOpenAI as RichOpenAI

__all__ = ["RichAnthropic", "RichGemini", "RichOpenAI"]


def sample(schema: dict[str, Any]) -> Any:
    """A value that fits a (Gemini / JSON Schema) schema: the smallest plausible one."""
    kind = str(schema.get("type", "object")).lower()
    if "enum" in schema and schema["enum"]:
        return schema["enum"][0]
    if kind == "object":
        return {name: sample(sub) for name, sub in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [sample(schema.get("items") or {"type": "string"})]
    if kind == "integer":
        return max(1, int(schema.get("minimum", 1)))
    if kind == "number":
        return float(schema.get("minimum", 1))
    if kind == "boolean":
        return False
    return "fake"


class RichGemini(FakeGemini):
    async def model_call(self, request: Request) -> Response:
        model, _, method = request.path_params["rest"].partition(":")
        if request.method == "POST" and method == "generateContent" and not model.startswith("fail-"):
            body = json.loads(await request.body() or b"{}")
            config = body.get("generationConfig") or {}
            schema = config.get("responseJsonSchema") or config.get("responseSchema")
            if config.get("responseMimeType") == "application/json":
                await self._record(request)
                text = json.dumps(sample(schema) if schema else {})
                return JSONResponse({
                    "candidates": [{"content": {"role": "model", "parts": [{"text": text}]},
                                    "finishReason": "STOP", "index": 0}],
                    "usageMetadata": USAGE, "modelVersion": model, "responseId": "resp_fake_json",
                })
        return await super().model_call(request)
