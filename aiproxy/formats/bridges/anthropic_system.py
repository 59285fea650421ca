"""`role: system` messages inside an Anthropic conversation, for the pairs that translate one.

Claude Code (2.1.197) sends one after the user's turn (the agent types it
offers). Such a message carries text, or blocks that add or remove tools
mid-conversation, and may be marked `clear_at: next_user_message`: shown only
for the user turn it follows, kept in the array but no longer shown once a
later user message exists. Each target places the text where its format puts
system text (Chat: a system message where it stands; Responses: a developer
item; Gemini: the system instruction); which text is shown, once.
"""

from __future__ import annotations

from typing import Any

from .base import Untranslatable


def last_user_index(messages: list[Any]) -> int:
    """Index of the conversation's last user message (-1 if none)."""
    return max((i for i, m in enumerate(messages) if isinstance(m, dict) and m.get("role") == "user"), default=-1)


def system_message_text(message: dict[str, Any], index: int, last_user: int) -> str | None:
    """The text the model is shown for the system message at `index`, or None
    (cleared by a later user turn, or empty)."""
    where = f"messages[{index}]"
    if index < last_user and message.get("clear_at") == "next_user_message":
        return None
    content = message.get("content")
    if isinstance(content, str):
        return content or None
    if not isinstance(content, list):
        raise Untranslatable(f"{where}.content", "must be a string or a list of text blocks")
    texts: list[str] = []
    for j, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind != "text" or not isinstance(block.get("text"), str):
            # Tool additions and removals change the tools the model may call
            # from here on: nothing in the target formats says that per turn.
            raise Untranslatable(f"{where}.content[{j}]", f"block type {kind!r} has no counterpart on this account")
        texts.append(block["text"])
    return "\n\n".join(texts) or None
