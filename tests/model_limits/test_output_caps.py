"""The output caps table (aiproxy/model_limits): the packaged data, its lookup rule, the operator file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aiproxy.model_limits import OutputCaps, OutputCapsFileError, parse_caps_file

CAPS = OutputCaps.load()


@pytest.mark.parametrize(("model", "cap"), [
    ("gpt-4o", 16384), ("gpt-4o-2024-08-06", 16384), ("gpt-4o-mini", 16384), ("chatgpt-4o-latest", 16384),
    ("gpt-4o-2024-05-13", 4096),  # an exact name beats the pattern
    ("gpt-4.1", 32768), ("gpt-4.1-mini", 32768), ("gpt-4.1-nano-2025-04-14", 32768),
    ("gpt-5", 128000), ("gpt-5-codex", 128000), ("gpt-5.1-codex-max", 128000), ("gpt-5-mini", 128000),
    ("gpt-5-chat-latest", 16384), ("gpt-5.2-chat-latest", 16384),  # the more specific pattern wins
    ("o1", 100000), ("o1-mini", 65536), ("o3", 100000), ("o3-mini", 100000), ("o4-mini", 100000),
    ("codex-mini-latest", 100000),
    ("gemini-2.0-flash", 8192), ("gemini-2.0-flash-lite", 8192), ("gemini-1.5-pro", 8192),
    ("gemini-2.5-pro", 65535), ("gemini-2.5-flash", 65535), ("gemini-2.5-flash-preview-09-2025", 65535),
    ("gemini-2.5-flash-image", 32768), ("gemini-3-pro-preview", 65535), ("gemini-3-pro-image-preview", 32768),
])
def test_packaged_caps(model: str, cap: int) -> None:
    assert CAPS.max_output(model) == cap


def test_names_are_matched_however_spelled() -> None:
    assert CAPS.max_output("GPT-4o") == 16384
    assert CAPS.max_output(" gpt-4o ") == 16384
    assert CAPS.max_output("models/gemini-2.5-pro") == 65535  # a Gemini resource name


@pytest.mark.parametrize("model", ["claude-sonnet-4-5", "deepseek-chat", "my-fine-tune", "gpt-4", "openai/gpt-4o",
                                   "gemini-2.0-flash-thinking-exp", ""])
def test_a_model_no_entry_names_has_no_cap(model: str) -> None:
    assert CAPS.max_output(model) is None


def test_the_packaged_file_says_where_its_numbers_came_from() -> None:
    raw = json.loads((Path(__file__).parents[2] / "aiproxy" / "model_limits" / "output_caps.json").read_text())
    assert "2026" in raw["_source"] and "platform.openai.com" in raw["_source"]
    assert "_source" not in CAPS.entries


def test_an_operator_file_adds_and_replaces_entries(tmp_path: Path) -> None:
    path = tmp_path / "caps.json"
    path.write_text(json.dumps({"_source": "ours", "my-fine-tune": 8192, "GPT-4.1*": 16000, "gpt-4o*": None}))
    caps = OutputCaps.load(path)
    assert caps.max_output("my-fine-tune") == 8192  # added
    assert caps.max_output("gpt-4.1-mini") == 16000  # replaced (names ignore case)
    assert caps.max_output("gpt-4o") is None  # null: no cap
    assert caps.max_output("gpt-4o-2024-05-13") == 4096  # the packaged exact entry still beats the pattern
    assert caps.max_output("gpt-5") == 128000  # not named: the packaged cap
    assert OutputCaps.load(str(path)).max_output("my-fine-tune") == 8192


@pytest.mark.parametrize(("text", "problem"), [
    ("not json", "not valid JSON"),
    ("[1, 2]", "top level must be a JSON object"),
    ('{"gpt-4o": 1, "gpt-4o": 2}', "duplicate key 'gpt-4o'"),
    ('{"gpt-4o": 1, "GPT-4o": 2}', "listed twice"),
    ('{" ": 1}', "a model name is empty"),
    ('{"gpt-4o": 0}', "positive integer or null, got 0"),
    ('{"gpt-4o": -5}', "positive integer or null"),
    ('{"gpt-4o": 16384.5}', "positive integer or null, got 16384.5"),
    ('{"gpt-4o": true}', "positive integer or null, got true"),
    ('{"gpt-4o": "16384"}', "positive integer or null"),
])
def test_a_malformed_file_is_refused_naming_it(text: str, problem: str) -> None:
    with pytest.raises(OutputCapsFileError) as info:
        parse_caps_file(text, "caps.json")
    assert problem in str(info.value) and "caps.json" in str(info.value)


def test_an_unreadable_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(OutputCapsFileError, match="cannot read it"):
        OutputCaps.load(tmp_path / "missing.json")


def test_lookups_are_remembered_boundedly() -> None:
    caps = OutputCaps({"gpt-4o*": 16384})
    for i in range(5000):
        assert caps.max_output(f"gpt-4o-{i}") == 16384
    assert len(caps._resolved) <= 4096
