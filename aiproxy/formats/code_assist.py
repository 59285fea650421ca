"""Code Assist (`cloudcode-pa.googleapis.com/v1internal`), the API behind Gemini CLI's
"Login with Google": the native Gemini API wrapped in an envelope.

Requests: `{model, project, user_prompt_id, request: <native body>}` for
generateContent and streamGenerateContent, `{request: {model: "models/<m>",
contents}}` for countTokens (nothing else: gemini-cli's CaCountTokenRequest). Answers: `{response: <native answer>, traceId}`,
per SSE event when streamed (Code Assist streams only as SSE); countTokens
answers `{totalTokens}` as the native API does. Pure: bytes and dicts in and out.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from .sse import SSEParser

# The native methods Code Assist has, by the name after the colon.
METHODS = ("generateContent", "streamGenerateContent", "countTokens")

# What gemini-cli's setup sends to learn the user's tier and project.
LOAD_CODE_ASSIST_BODY = {
    "metadata": {"ideType": "IDE_UNSPECIFIED", "platform": "PLATFORM_UNSPECIFIED", "pluginType": "GEMINI"},
}


def split_path(path: str) -> tuple[str, str, str] | None:
    """`(model, method, query)` of a native `/{version}/models/{model}:{method}[?query]`
    path; None for anything else (model listings, model info)."""
    path, _, query = path.partition("?")
    _, found, rest = path.partition("/models/")
    if not found:
        return None
    model, _, method = rest.partition(":")
    if not model or "/" in model or not method:
        return None
    return model, method, query


def wants_sse(*queries: str) -> bool:
    """Whether any of these query strings asks for `alt=sse`."""
    return any(part == "alt=sse" for query in queries for part in query.split("&"))


def wrap_generate(body: dict[str, Any], model: str, project: str, user_prompt_id: str | None = None) -> dict[str, Any]:
    """A native generateContent body in Code Assist's envelope. The native fields
    go as they are (both APIs read the same protobuf JSON); a `model` field in
    the body, which the native API takes from the URL, is dropped."""
    request = {k: v for k, v in body.items() if k != "model"}
    return {
        "model": model,
        "project": project,
        "user_prompt_id": user_prompt_id or uuid.uuid4().hex,
        "request": request,
    }


def wrap_count_tokens(body: dict[str, Any], model: str) -> dict[str, Any]:
    """A native countTokens body (`contents`, or `generateContentRequest`) in Code
    Assist's envelope. Code Assist counts `contents` only (its request has no other
    field): a generateContentRequest's system instruction and function
    declarations go in front as a user turn of text (the declarations as their
    JSON), so that they are counted too, near what they count in their own fields."""
    contents = body.get("contents")
    nested = body.get("generateContentRequest")
    if contents is None and isinstance(nested, dict):
        contents = nested.get("contents")
        steering = _steering_parts(nested)
        if steering and isinstance(contents, list):
            contents = [{"role": "user", "parts": steering}, *contents]
    return {"request": {"model": f"models/{model}", "contents": contents if contents is not None else []}}


def _steering_parts(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The system instruction's parts and the tools as text parts."""
    parts: list[dict[str, Any]] = []
    system = request.get("systemInstruction")
    if isinstance(system, dict) and isinstance(system.get("parts"), list):
        parts.extend(p for p in system["parts"] if isinstance(p, dict))
    tools = request.get("tools")
    if isinstance(tools, list) and tools:
        parts.append({"text": orjson.dumps(tools).decode()})
    return parts


def unwrap(data: Any) -> Any:
    """One answer (or stream element) out of its envelope; anything without one
    (an error, countTokens' `{totalTokens}`) as it is. The trace id becomes the
    response id, as gemini-cli does."""
    if not isinstance(data, dict) or not isinstance(data.get("response"), dict):
        return data
    inner = dict(data["response"])
    if "responseId" not in inner and isinstance(data.get("traceId"), str):
        inner["responseId"] = data["traceId"]
    return inner


def unwrap_body(body: bytes) -> bytes:
    """A non-streamed answer in the native shape; bytes that are not JSON pass unchanged."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    unwrapped = unwrap(data)
    return body if unwrapped is data else orjson.dumps(unwrapped)


def project_from_load(body: bytes) -> str | None:
    """The project of a loadCodeAssist answer (`cloudaicompanionProject`: a string,
    or an object with an id)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    project = data.get("cloudaicompanionProject")
    if isinstance(project, dict):
        project = project.get("id")
    return project if isinstance(project, str) and project else None


class StreamUnwrapper:
    """Code Assist's SSE stream, unwrapped event by event as it arrives, out as
    native SSE (`sse=True`) or as the native JSON array (`[{...},\\r\\n{...}]`),
    which is built as the events come: nothing waits for the stream's end
    except the closing bracket."""

    def __init__(self, *, sse: bool) -> None:
        self._sse = sse
        self._parser = SSEParser()
        self._elements = 0

    def feed(self, chunk: bytes) -> bytes:
        out: list[bytes] = []
        for event in self._parser.feed(chunk):
            out.append(self._element(event.data))
        return b"".join(out)

    def end(self) -> bytes:
        """What closes the stream: the array's bracket (an empty array if nothing came)."""
        if self._sse:
            return b""
        return b"]" if self._elements else b"[]"

    def _element(self, data: str) -> bytes:
        try:
            element = orjson.dumps(unwrap(orjson.loads(data)))
        except orjson.JSONDecodeError:
            element = data.encode()  # not JSON: passed on as it came
        self._elements += 1
        if self._sse:
            return b"data: " + element + b"\r\n\r\n"
        return (b"[" if self._elements == 1 else b",\r\n") + element


# Code Assist lists no models: listings are answered from the account's
# `models` (and `model_mapping` keys), else from these, which Gemini CLI uses.
DEFAULT_MODELS = ("gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite")


def model_info(model: str) -> dict[str, Any]:
    """A native `Model` for a model served through Code Assist."""
    return {"name": f"models/{model}", "displayName": model,
            "supportedGenerationMethods": list(METHODS)}


def model_list(models: list[str]) -> bytes:
    """A native `GET models` answer."""
    return orjson.dumps({"models": [model_info(m) for m in models]})
