"""Dialect.requested_model: where an API names the model in its path, the path wins."""

from __future__ import annotations

from aiproxy.formats.dialect import ANTHROPIC, GEMINI, OPENAI

FLASH_PATH = "/gemini/v1beta/models/gemini-2.5-flash:generateContent"


def test_the_gemini_path_model_wins_over_the_body():
    assert GEMINI.requested_model(FLASH_PATH, "veo-3.0-generate-001:predictLongRunning?x=") == "gemini-2.5-flash"
    assert GEMINI.requested_model(FLASH_PATH, None) == "gemini-2.5-flash"
    assert GEMINI.requested_model("/gemini/v1beta/models/gemini-2.5-pro", "x") == "gemini-2.5-pro"


def test_the_body_counts_where_the_path_names_no_model():
    assert GEMINI.requested_model("/gemini/v1beta/models", "gemini-2.5-flash") == "gemini-2.5-flash"
    assert GEMINI.requested_model("/gemini/v1beta/models", None) is None
    assert GEMINI.requested_model("/gemini/v1beta/models", "") is None
    for dialect in (ANTHROPIC, OPENAI):
        # Their paths never name a model, even one that looks as if it did.
        assert dialect.requested_model("/openai/v1/models/gpt-4o", "claude-x") == "claude-x"
        assert dialect.requested_model("/claude/v1/messages", None) is None
