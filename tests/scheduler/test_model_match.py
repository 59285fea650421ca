"""Which models an account serves, wildcards and families (issue 12's routing rule)."""

from __future__ import annotations

import pytest

from aiproxy.scheduler.model_match import best_match, family, plain_names, serves, upstream_model


@pytest.mark.parametrize(
    "model, expected",
    [
        ("claude-sonnet-4-5", "claude"),
        ("gpt-4o", "openai"),
        ("o3-mini", "openai"),
        ("o4-mini", "openai"),
        ("codex-mini-latest", "openai"),
        ("chatgpt-4o-latest", "openai"),
        ("gemini-2.5-flash", "gemini"),
        ("deepseek-chat", None),
        ("llama-3", None),
    ],
)
def test_family(model: str, expected: str | None) -> None:
    assert family(model) == expected


def test_exact_beats_wildcard_and_specific_beats_general() -> None:
    mapping = {"claude-*": "gpt-5-codex", "claude-opus-*": "gpt-5", "claude-haiku-4-5": "gpt-5-mini"}
    assert upstream_model("claude-sonnet-4-5", mapping) == "gpt-5-codex"
    assert upstream_model("claude-opus-4-1", mapping) == "gpt-5"
    assert upstream_model("claude-haiku-4-5", mapping) == "gpt-5-mini"
    assert upstream_model("gpt-4o", mapping) == "gpt-4o"  # not mapped: the same name
    # Listed order decides between equally specific patterns.
    assert best_match("claude-x", ["claude-?", "claude-*"]) == "claude-?"
    assert best_match("claude-x", ["clau*", "claude-*"]) == "claude-*"


def test_listed_models_serve_across_platforms() -> None:
    # A Codex account told to take Claude Code's models.
    assert serves("claude-sonnet-4-5", "openai", ["claude-*"], {})
    assert serves("claude-sonnet-4-5", "openai", [], {"claude-*": "gpt-5-codex"})
    assert not serves("gemini-2.5-pro", "openai", ["claude-*"], {})
    # Exact lists still work as before.
    assert serves("gpt-4o", "openai", ["gpt-4o"], {})
    assert not serves("gpt-4o-mini", "openai", ["gpt-4o"], {})


def test_no_lists_means_the_own_family() -> None:
    assert serves("gpt-4o", "openai", [], {})
    assert not serves("claude-sonnet-4-5", "openai", [], {})
    assert serves("claude-sonnet-4-5", "claude", [], {})
    assert not serves("deepseek-chat", "openai", [], {})  # no family: the route's platform decides, not this


def test_plain_names_are_what_a_model_list_can_show() -> None:
    assert plain_names(["gpt-4.1", "gpt-*", "o[13]"], {"claude-sonnet-4-5": "gpt-4.1", "gpt-4.1": "x",
                                                      "claude-?": "y"}) == ["gpt-4.1", "claude-sonnet-4-5"]
    assert plain_names([], {}) == []
