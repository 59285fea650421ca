"""Which conversation a request belongs to, so that its turns stay on one account (issue 4).

`session_key(platform, headers, body, path)` names the conversation, or returns
None when nothing identifies one. Keys are namespaced by platform and by where
the id came from (`claude:cc:<id>`, `openai:codex:<id>`, `gemini:h:<sha256>`): the
scheduler's table is per platform, and an id from one source never meets the
same string from another. Precedence, first match wins:

1. `x-aiproxy-session` header, any platform (`x`): any client can pin itself.
2. claude: `x-claude-code-session-id`, else the session inside Claude Code's
   `metadata.user_id` (`cc`, the same id either way).
3. openai: Codex's `session_id` / `session-id` header, else `conversation_id` /
   `thread-id` (`codex`); any platform: body `prompt_cache_key` (`pck`), which
   Codex sets to the conversation id and other clients set on purpose. Never
   Chat's `user`: it names a person, and one person has many conversations, so
   it would pin all of them to one account.
4. gemini: Code Assist's `request.session_id` (`ca`). Not `user_prompt_id`: a new
   one per prompt. Gemini CLI on the plain API key sends no id at all.
5. Fallback (`h`): sha256 of the conversation's opening: system prompt and the
   client's messages before the model's first reply (see `_opening`, `_prefix`).

Pure and cheap: runs on every request, reads only the few fields it needs and
never copies a large body (long strings are replaced by their digest).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Mapping

import orjson

EXPLICIT_HEADER = "x-aiproxy-session"
CLAUDE_CODE_HEADER = "x-claude-code-session-id"
CODEX_SESSION_HEADERS = ("session_id", "session-id")
CODEX_CONVERSATION_HEADERS = ("conversation_id", "conversation-id", "thread-id", "thread_id")

# Ids in this shape go into the key as they are (readable in logs); anything
# else (long, spaces, control characters) is replaced by its digest.
_SAFE_ID = re.compile(r"[A-Za-z0-9._:@+/=-]{1,128}")
# Strings longer than this (base64 images, documents, 20 KB system prompts) are
# hashed on their own, so the canonical dump stays small.
_BIG = 2048
# Real first messages nest a few levels deep; anything deeper is cut off
# rather than risking RecursionError on a hostile body.
_MAX_DEPTH = 16
# At most this many opening items are hashed (enough to tell conversations apart).
_SCAN = 16
# Fields that change between turns of one conversation without changing it:
# Claude Code moves its cache breakpoints to the newest message every turn.
_DROP = frozenset({"cache_control"})
# Text parts of every dialect hash as the bare string, so `"hi"` and
# `[{"type": "text", "text": "hi"}]` (SDKs send either) are one conversation.
_TEXT_TYPES = frozenset({"text", "input_text", "output_text"})
_CLIENT_ROLES = frozenset({"user", "system", "developer"})
# Model turns a client writes itself at the start of every conversation:
# gemini-cli's (and its forks') answer to its environment-context message.
_CANNED = frozenset({"Got it. Thanks for the context!"})
# Claude Code (2.1.x) puts a billing line first in `system` whose `cch=` field
# changes from request to request: not part of the conversation.
_BILLING_PREFIX = "x-anthropic-billing-header:"


def session_key(platform: str, headers: Mapping[str, str], body: dict[str, Any] | None, path: str) -> str | None:
    """The conversation this request belongs to, or None. `headers` has lower-case
    names. A request without a JSON object body (GET model lists, unreadable
    bodies) has no conversation and gets None, whatever its headers say."""
    if not isinstance(body, dict) or (isinstance(path, str) and path.partition("?")[0].endswith("/models")):
        return None
    explicit = _header(headers, (EXPLICIT_HEADER,))
    if explicit:
        return _key(platform, "x", explicit)
    if platform == "claude":
        sid = _header(headers, (CLAUDE_CODE_HEADER,)) or _claude_user_session(body.get("metadata"))
        if sid:
            return _key(platform, "cc", sid)
    if platform == "openai":
        sid = _header(headers, CODEX_SESSION_HEADERS) or _header(headers, CODEX_CONVERSATION_HEADERS)
        if sid:
            return _key(platform, "codex", sid)
    pck = body.get("prompt_cache_key")
    if isinstance(pck, str) and pck.strip():
        return _key(platform, "pck", pck.strip())
    if platform == "gemini":
        request = body.get("request")
        sid = request.get("session_id") if isinstance(request, dict) else None
        if isinstance(sid, str) and sid.strip():
            return _key(platform, "ca", sid.strip())
    opening = _opening(platform, body)
    if opening is None:
        return None
    try:
        dump = orjson.dumps(opening, option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONEncodeError, TypeError):  # non-str keys, huge ints, lone surrogates
        return None
    return f"{platform}:h:{hashlib.sha256(dump).hexdigest()}"


def _header(headers: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = headers.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _key(platform: str, source: str, ident: str) -> str:
    if not _SAFE_ID.fullmatch(ident):
        ident = _digest(ident)
    return f"{platform}:{source}:{ident}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _claude_user_session(metadata: Any) -> str | None:
    """The session in Claude Code's `metadata.user_id`. Older versions send
    `user_<hash>_account_<uuid>_session_<uuid>` (the part after `_session_`),
    newer ones a JSON string `{"device_id", "account_uuid", "session_id"}`.
    A user_id of another shape is used whole only if it says "session";
    otherwise it is an application's user id (the anthropic SDK's documented
    use), a person rather than a conversation, and is ignored."""
    user_id = metadata.get("user_id") if isinstance(metadata, dict) else None
    if not isinstance(user_id, str) or not user_id.strip():
        return None
    text = user_id.strip()
    if text.startswith("{"):
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError:
            data = None
        if isinstance(data, dict):
            sid = data.get("session_id", data.get("sessionId"))
            if isinstance(sid, str) and sid.strip():
                return sid.strip()
    _, found, tail = text.rpartition("_session_")
    if found and tail:
        return tail
    return text if "session" in text.lower() else None


def _opening(platform: str, body: dict[str, Any]) -> list[Any] | None:
    """What every turn of a conversation repeats unchanged: the system prompt and
    the opening messages (`_prefix`); more turns only append. None when there
    is no message (a count_tokens without messages included), or when turns
    cannot be tied together: a Responses request chained by
    `previous_response_id` carries only the new items, so hashing them would
    give every turn a key of its own."""
    inner = body.get("request")  # Code Assist's envelope
    if isinstance(inner, dict) and "contents" in inner:
        body = inner
    gcr = body.get("generateContentRequest")  # Gemini countTokens' long form
    if "contents" not in body and isinstance(gcr, dict):
        body = gcr
    if isinstance(body.get("contents"), list):  # Gemini
        system: Any = body.get("systemInstruction", body.get("system_instruction"))
        if isinstance(system, dict):
            system = system.get("parts")
        items = body["contents"]
    elif isinstance(body.get("messages"), list):  # Anthropic, OpenAI Chat
        items = body["messages"]
        system = _anthropic_system(body.get("system")) if platform == "claude" else None
    elif "input" in body:  # Responses
        if body.get("previous_response_id"):
            return None
        items = body["input"]
        if isinstance(items, str):
            items = [{"role": "user", "content": items}]
        system = body.get("instructions")
    else:
        return None
    if not isinstance(items, list) or not items:
        return None
    prefix = _prefix(items, gemini=isinstance(body.get("contents"), list))
    if isinstance(system, str):  # a string and one text block are the same prompt
        system = [system]
    return [_canon(system, 0), [_message(m) for m in prefix]]


def _anthropic_system(system: Any) -> Any:
    if isinstance(system, list):
        return [b for b in system
                if not (isinstance(b, dict) and str(b.get("text", "")).startswith(_BILLING_PREFIX))]
    return system


def _prefix(items: list[Any], gemini: bool) -> list[Any]:
    """The leading run of the client's own items (system, developer, user; for
    Gemini a missing role is the user's), ended by the model's first reply.
    More than "the first user message" because agents open with boilerplate
    that is the same in every conversation started in one folder: Codex sends
    a permissions message and an environment-context user message before the
    prompt, Gemini CLI an environment-context turn and a canned model answer
    (see _CANNED). A system message Claude Code adds mid-conversation comes
    after the first reply and is not included. Capped at _SCAN items, which is
    stable too: later turns only append."""
    for i, item in enumerate(items[:_SCAN]):
        if not (_from_client(item, gemini) or _canned(item)):
            return items[:i] or items[:1]
    return items[:_SCAN]


def _from_client(item: Any, gemini: bool) -> bool:
    if not isinstance(item, dict):
        return False
    role = item.get("role")
    return (isinstance(role, str) and role in _CLIENT_ROLES) or (gemini and role is None)


def _canned(item: Any) -> bool:
    if not isinstance(item, dict) or item.get("role") not in ("model", "assistant"):
        return False
    parts = item.get("parts", item.get("content"))
    if isinstance(parts, list) and len(parts) == 1 and isinstance(parts[0], dict):
        parts = parts[0].get("text")
    return isinstance(parts, str) and parts in _CANNED


def _message(item: Any) -> Any:
    if not isinstance(item, dict):
        return _canon(item, 0)
    out = {k: _canon(v, 1) for k, v in item.items() if k not in _DROP and k not in ("content", "parts")}
    for name in ("content", "parts"):
        if name in item:
            value = item[name]
            # A string content and one text block are the same message.
            out["content"] = [_canon(value, 1)] if isinstance(value, str) else _canon(value, 1)
    return out


def _canon(value: Any, depth: int) -> Any:
    """A small, order-independent stand-in for `value`: cache markers dropped,
    text parts reduced to their string, long strings to their digest."""
    if isinstance(value, str):
        return value if len(value) <= _BIG else "sha256:" + _digest(value)
    if depth > _MAX_DEPTH:
        return None
    if isinstance(value, dict):
        text = value.get("text")
        kind = value.get("type", "text")
        if isinstance(text, str) and isinstance(kind, str) and kind in _TEXT_TYPES:
            return _canon(text, depth)
        return {k: _canon(v, depth + 1) for k, v in value.items() if k not in _DROP}
    if isinstance(value, list):
        return [_canon(v, depth + 1) for v in value]
    return value
