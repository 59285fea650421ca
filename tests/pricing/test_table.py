"""The packaged price table, model name resolution and operator overrides."""

from __future__ import annotations

import json
from decimal import Decimal
from importlib import resources
from pathlib import Path

import pytest

from aiproxy.pricing import Cost, ModelPrice, PriceFileError, PriceTable
from aiproxy.pricing import table as table_module


@pytest.fixture(scope="module")
def table() -> PriceTable:
    return PriceTable.load()


def _p(input: str, output: str, w5: str, w1: str, read: str, above: ModelPrice | None = None) -> ModelPrice:
    return ModelPrice(Decimal(input), Decimal(output), Decimal(w5), Decimal(w1), Decimal(read), above)


# PROTOCOLS §11, copied by hand: input, output, cache write 5m, 1h, cache read.
_OPUS_4 = _p("15", "75", "18.75", "30", "1.50")
_SONNET_4 = _p("3", "15", "3.75", "6", "0.30", above=_p("6", "22.5", "7.5", "12", "0.60"))
_GPT_5 = _p("1.25", "10", "0", "0", "0.125")
EXPECTED = {
    "claude-opus-4": _OPUS_4,
    "claude-opus-4-1": _OPUS_4,
    "claude-opus-4-5": _p("5", "25", "6.25", "10", "0.50"),
    "claude-sonnet-4": _SONNET_4,
    "claude-sonnet-4-5": _SONNET_4,
    "claude-haiku-4-5": _p("1", "5", "1.25", "2", "0.10"),
    "claude-3-5-haiku": _p("0.80", "4", "1.00", "1.60", "0.08"),
    "gpt-4o": _p("2.50", "10", "0", "0", "1.25"),
    "gpt-4o-mini": _p("0.15", "0.60", "0", "0", "0.075"),
    "gpt-4.1": _p("2.00", "8.00", "0", "0", "0.50"),
    "gpt-5": _GPT_5,
    "gpt-5-codex": _GPT_5,
    "gpt-5-mini": _p("0.25", "2.00", "0", "0", "0.025"),
    "gemini-2.5-pro": _p("1.25", "10", "0", "0", "0.125", above=_p("2.50", "15", "0", "0", "0.25")),
    "gemini-2.5-flash": _p("0.30", "2.50", "0", "0", "0.03"),
    "gemini-2.5-flash-lite": _p("0.10", "0.40", "0", "0", "0.01"),
}


def test_packaged_table_is_protocols_section_11(table: PriceTable) -> None:
    # Decimal equality ignores trailing zeros: 2.50 == 2.5.
    assert dict(table.models) == EXPECTED


def test_packaged_file_says_where_prices_come_from() -> None:
    data = json.loads(resources.files("aiproxy.pricing").joinpath("prices.json").read_text())
    assert "PROTOCOLS" in data["_source"] and "LiteLLM" in data["_source"]


@pytest.mark.parametrize(
    ("requested", "canonical"),
    [
        # exact, any case
        ("gpt-5-mini", "gpt-5-mini"),
        ("GPT-4o", "gpt-4o"),
        ("claude-opus-4-1", "claude-opus-4-1"),
        # the trap: gpt-5-mini is its own model, never gpt-5 by prefix
        ("gpt-5", "gpt-5"),
        ("gpt-5-mini-2025-08-07", "gpt-5-mini"),
        ("gpt-5-2025-08-07", "gpt-5"),
        ("gpt-5-codex", "gpt-5-codex"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gemini-2.5-flash-lite", "gemini-2.5-flash-lite"),
        # dated snapshots
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("claude-sonnet-4-20250514", "claude-sonnet-4"),
        ("claude-opus-4-20250514", "claude-opus-4"),
        ("claude-opus-4-1-20250805", "claude-opus-4-1"),
        ("claude-opus-4-5-20251101", "claude-opus-4-5"),
        ("claude-haiku-4-5-20251001", "claude-haiku-4-5"),
        ("claude-3-5-haiku-20241022", "claude-3-5-haiku"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4.1-2025-04-14", "gpt-4.1"),
        # Bedrock ids, with and without cross-region prefixes
        ("anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5"),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5"),
        ("eu.anthropic.claude-sonnet-4-20250514-v1:0", "claude-sonnet-4"),
        ("apac.anthropic.claude-3-5-haiku-20241022-v1:0", "claude-3-5-haiku"),
        ("global.anthropic.claude-haiku-4-5-20251001-v1:0", "claude-haiku-4-5"),
        ("us.anthropic.claude-opus-4-1-20250805-v1:0", "claude-opus-4-1"),
        # Vertex and Gemini resource names
        ("claude-sonnet-4-5@20250929", "claude-sonnet-4-5"),
        ("models/gemini-2.5-pro", "gemini-2.5-pro"),
        ("models/gemini-2.5-flash-lite", "gemini-2.5-flash-lite"),
        # longest table name + `-` + a preview/snapshot suffix
        ("gemini-2.5-flash-preview-09-2025", "gemini-2.5-flash"),
        ("gemini-2.5-flash-lite-preview-06-17", "gemini-2.5-flash-lite"),
        ("gemini-2.5-pro-preview-06-05", "gemini-2.5-pro"),
        ("models/gemini-2.5-flash-preview-05-20", "gemini-2.5-flash"),
        ("gpt-4o-mini-search-preview", "gpt-4o-mini"),
        ("claude-3-5-haiku-latest", "claude-3-5-haiku"),
        ("claude-sonnet-4-5@latest", "claude-sonnet-4-5"),
    ],
)
def test_name_resolution(table: PriceTable, requested: str, canonical: str) -> None:
    assert table.price_for(requested) is table.models[canonical]


@pytest.mark.parametrize(
    "requested",
    [
        "",
        "llama-3.1-70b-instruct",
        "claude-3-5-sonnet-20241022",  # not in §11: no price rather than a wrong one
        "anthropic.claude-3-5-sonnet-20241022-v2:0",
        "gpt-5.1",
        # a size variant names another model, wherever it sits in the suffix
        "gpt-5-nano",
        "gpt-5-codex-mini",
        "gpt-4.1-mini",
        "gpt-4.1-nano-2025-04-14",
        # a minor version names another model
        "claude-opus-4-6",
        "claude-sonnet-4-7-20260101",
        # a prefix must end at a `-`
        "gpt-5x",
        "gpt-4",
    ],
)
def test_unknown_models_have_no_price(table: PriceTable, requested: str) -> None:
    assert table.price_for(requested) is None


def test_resolution_is_cached_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(table_module, "_CACHE_LIMIT", 3)
    t = PriceTable.load()
    for name in ("gpt-4o-2024-08-06", "nope", "gpt-5-mini", "models/gemini-2.5-pro", "claude-opus-4-1"):
        t.price_for(name)
    assert list(t._resolved) == ["gpt-5-mini", "models/gemini-2.5-pro", "claude-opus-4-1"]
    assert t.price_for("gpt-5-mini") is t.models["gpt-5-mini"]


def _write(tmp_path: Path, content: object | str) -> Path:
    path = tmp_path / "prices.override.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_override_replaces_a_price_and_adds_a_model(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {
            "_source": "our negotiated prices, 2026-11",
            "GPT-4o": {"input": 2, "output": 8, "cache_write_5m": 0, "cache_write_1h": 0, "cache_read": 1},
            "my-finetune": {
                "input": 0.5,
                "output": 1.5,
                "cache_write_5m": 0,
                "cache_write_1h": 0,
                "cache_read": 0.05,
                "above_200k": {"input": 1, "output": 3, "cache_write_5m": 0, "cache_write_1h": 0, "cache_read": 0.1},
            },
        },
    )
    t = PriceTable.load(path)
    assert t.price_for("gpt-4o-2024-08-06") == _p("2", "8", "0", "0", "1")
    assert t.price_for("my-finetune-20261101") == _p(
        "0.5", "1.5", "0", "0", "0.05", above=_p("1", "3", "0", "0", "0.1")
    )
    # everything else is still the packaged price; the override left gpt-4o-mini alone
    assert t.price_for("gpt-4o-mini") == EXPECTED["gpt-4o-mini"]
    assert t.price_for("claude-sonnet-4-5") == EXPECTED["claude-sonnet-4-5"]
    assert len(t.models) == len(EXPECTED) + 1


def test_override_replaces_a_whole_entry(tmp_path: Path) -> None:
    # No above_200k in the override: the replaced model has no upper tier any more.
    path = _write(
        tmp_path,
        {
            "claude-sonnet-4-5": {
                "input": 3,
                "output": 15,
                "cache_write_5m": 3.75,
                "cache_write_1h": 6,
                "cache_read": 0.3,
            }
        },
    )
    price = PriceTable.load(str(path)).price_for("claude-sonnet-4-5")
    assert price is not None and price.above_200k is None


_OK = {"input": 1, "output": 2, "cache_write_5m": 0, "cache_write_1h": 0, "cache_read": 0.1}


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('{"gpt-4o": {"input": 1,', "not valid JSON"),
        ("[]", "top level must be a JSON object"),
        ({"gpt-4o": 2.5}, "model 'gpt-4o': must be an object of prices, got 2.5"),
        (
            {"gpt-4o": {k: v for k, v in _OK.items() if k != "cache_read"}},
            "model 'gpt-4o': missing field(s) cache_read",
        ),
        ({"gpt-4o": {**_OK, "cache_write": 1}}, "model 'gpt-4o': unknown field(s) cache_write"),
        ({"gpt-4o": {**_OK, "output": "10"}}, "model 'gpt-4o': output must be a number, got a string"),
        ({"gpt-4o": {**_OK, "output": True}}, "model 'gpt-4o': output must be a number, got a boolean"),
        ({"gpt-4o": {**_OK, "input": None}}, "model 'gpt-4o': input must be a number, got null"),
        ({"gpt-4o": {**_OK, "input": -1}}, "model 'gpt-4o': input must not be negative"),
        ({"x": {**_OK, "above_200k": {"input": 1}}}, "model 'x' above_200k: missing field(s) output"),
        ({"x": {**_OK, "above_200k": {**_OK, "above_200k": _OK}}}, "model 'x' above_200k: unknown field(s) above_200k"),
        ('{"x": ' + json.dumps(_OK) + ', "x": ' + json.dumps(_OK) + "}", "duplicate key 'x'"),
        ({"X": _OK, "x": _OK}, "model 'x' is listed twice"),
        ({" ": _OK}, "a model name is empty"),
    ],
)
def test_malformed_override_names_file_and_problem(tmp_path: Path, content: object, problem: str) -> None:
    path = _write(tmp_path, content)
    with pytest.raises(PriceFileError) as info:
        PriceTable.load(path)
    message = str(info.value)
    assert str(path) in message
    assert problem in message
    assert isinstance(info.value, ValueError)


def test_missing_override_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.json"
    with pytest.raises(PriceFileError, match="cannot read it") as info:
        PriceTable.load(path)
    assert str(path) in str(info.value)


def test_cost_of_usage_on_a_model_with_the_1h_writes(table: PriceTable) -> None:
    from aiproxy.formats.usage import Usage

    usage = Usage(input_tokens=12, output_tokens=7, cache_creation_tokens=100, cache_read_tokens=200,
                  cache_creation_1h_tokens=60)
    # claude-sonnet-4-5: 12 * 3 + 40 * 3.75 + 60 * 6 + 200 * 0.30 + 7 * 15 = 711 per 1M tokens
    assert table.cost("us.anthropic.claude-sonnet-4-5-20250929-v1:0", usage) == Cost(usd=0.000711, priced=True)
    assert table.cost("no-such-model", usage) == Cost(usd=0.0, priced=False)
