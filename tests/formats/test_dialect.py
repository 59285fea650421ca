"""Which model a request names: where the path names one (Gemini), the path wins over the body."""

from __future__ import annotations

from aiproxy.formats.dialect import ANTHROPIC, GEMINI, OPENAI


def test_gemini_path_model_wins_over_the_body() -> None:
    path = "/gemini/v1beta/models/gemini-2.5-flash:generateContent"
    assert GEMINI.requested_model(path, "veo-3.0-generate-001:predictLongRunning?x=") == "gemini-2.5-flash"
    assert GEMINI.requested_model(path, None) == "gemini-2.5-flash"


def test_gemini_body_model_only_where_the_path_names_none() -> None:
    assert GEMINI.requested_model("/gemini/v1beta/models", "gemini-2.5-pro") == "gemini-2.5-pro"
    assert GEMINI.requested_model("/gemini/v1beta/models", None) is None


def test_other_dialects_take_the_body_model() -> None:
    assert ANTHROPIC.requested_model("/claude/v1/messages", "claude-sonnet-4-5") == "claude-sonnet-4-5"
    assert OPENAI.requested_model("/gemini/v1/chat", "gemini-2.5-flash") == "gemini-2.5-flash"
    assert OPENAI.requested_model("/openai/v1/chat/completions", "") is None
