"""Costs at list price, each checked against a sum worked out by hand.

Prices are USD per 1M tokens (PROTOCOLS §11); every sum below is
tokens x price, added up, then divided by 1,000,000.
"""

from __future__ import annotations

import pytest

from aiproxy.formats.gemini import usage_from_metadata
from aiproxy.formats.openai_chat import CHAT_USAGE
from aiproxy.formats.usage import Usage
from aiproxy.pricing import Cost, PriceTable, cost_usd
from aiproxy.stores.entities import UsageRecord


@pytest.fixture(scope="module")
def table() -> PriceTable:
    return PriceTable.load()


def test_claude_sonnet_4_5_with_cache_write_and_read(table: PriceTable) -> None:
    usage = Usage(input_tokens=1_200, cache_creation_tokens=4_000, cache_read_tokens=10_000, output_tokens=800)
    # total input 15,200 <= 200k: base tier
    #   1,200 uncached x 3.00  =  3,600
    #   4,000 writes 5m x 3.75 = 15,000
    #  10,000 reads x 0.30     =  3,000
    #     800 output x 15.00   = 12,000
    #                   sum    = 33,600 / 1e6 = 0.0336
    cost = cost_usd(table.price_for("claude-sonnet-4-5-20250929"), usage)
    assert cost == Cost(usd=0.0336, priced=True)


def test_gpt_4o_cached_tokens_are_not_billed_twice(table: PriceTable) -> None:
    # What OpenAI sends: prompt_tokens includes the 2,048 cached ones.
    usage = CHAT_USAGE.from_object(
        {"usage": {"prompt_tokens": 3_000, "completion_tokens": 500, "prompt_tokens_details": {"cached_tokens": 2_048}}}
    )
    assert usage == Usage(input_tokens=952, output_tokens=500, cache_read_tokens=2_048)
    #     952 uncached (3,000 - 2,048) x 2.50 = 2,380
    #   2,048 cached x 1.25                   = 2,560
    #     500 output x 10.00                  = 5,000
    #                                   sum   = 9,940 / 1e6 = 0.00994
    cost = cost_usd(table.price_for("gpt-4o-2024-08-06"), usage)
    assert cost == Cost(usd=0.00994, priced=True)


def test_gemini_2_5_flash_thoughts_are_output(table: PriceTable) -> None:
    usage = usage_from_metadata(
        {
            "promptTokenCount": 1_500,
            "cachedContentTokenCount": 1_000,
            "candidatesTokenCount": 200,
            "thoughtsTokenCount": 1_300,
        }
    )
    assert usage == Usage(input_tokens=500, output_tokens=1_500, cache_read_tokens=1_000)
    #     500 uncached (1,500 - 1,000) x 0.30 =   150
    #   1,000 cached x 0.03                   =    30
    #   1,500 output (200 + 1,300 thoughts) x 2.50 = 3,750
    #                                   sum   = 3,930 / 1e6 = 0.00393
    cost = cost_usd(table.price_for("models/gemini-2.5-flash"), usage)
    assert cost == Cost(usd=0.00393, priced=True)


def test_claude_sonnet_above_200k_uses_upper_tier_for_all_tokens(table: PriceTable) -> None:
    usage = Usage(input_tokens=150_000, cache_read_tokens=60_000, output_tokens=2_000)
    # total input 150,000 + 60,000 = 210,000 > 200k: upper tier for everything
    #   150,000 uncached x 6.00 = 900,000
    #    60,000 reads x 0.60    =  36,000
    #     2,000 output x 22.50  =  45,000
    #                     sum   = 981,000 / 1e6 = 0.981
    cost = cost_usd(table.price_for("claude-sonnet-4-20250514"), usage)
    assert cost == Cost(usd=0.981, priced=True)


def test_tier_boundary_is_more_than_200k(table: PriceTable) -> None:
    price = table.price_for("claude-sonnet-4-5")
    # exactly 200,000: base tier. 200,000 x 3 + 1,000 x 15 = 615,000 / 1e6 = 0.615
    assert cost_usd(price, Usage(input_tokens=200_000, output_tokens=1_000)).usd == 0.615
    # 200,001: upper tier. 200,001 x 6 + 1,000 x 22.5 = 1,222,506 / 1e6 = 1.222506
    assert cost_usd(price, Usage(input_tokens=200_001, output_tokens=1_000)).usd == 1.222506


def test_cache_writes_count_towards_the_tier(table: PriceTable) -> None:
    usage = Usage(input_tokens=190_000, cache_creation_tokens=20_000, output_tokens=100)
    # total input 190,000 + 20,000 = 210,000 > 200k; 5,000 of the writes are 1h
    #   190,000 uncached x 6.00  = 1,140,000
    #    15,000 writes 5m x 7.50 =   112,500
    #     5,000 writes 1h x 12   =    60,000
    #       100 output x 22.50   =     2,250
    #                      sum   = 1,314,750 / 1e6 = 1.31475
    cost = cost_usd(table.price_for("claude-sonnet-4-5"), usage, cache_write_1h_tokens=5_000)
    assert cost.usd == 1.31475


def test_gemini_2_5_pro_above_200k_counts_cached_prompt(table: PriceTable) -> None:
    # promptTokenCount 250,000 of which 50,000 cached: uncached alone is 200,000
    # (not above), but the prompt is 250,000 > 200k, which is what Google bills on.
    usage = usage_from_metadata(
        {"promptTokenCount": 250_000, "cachedContentTokenCount": 50_000, "candidatesTokenCount": 1_000}
    )
    #   200,000 uncached x 2.50 = 500,000
    #    50,000 cached x 0.25   =  12,500
    #     1,000 output x 15     =  15,000
    #                     sum   = 527,500 / 1e6 = 0.5275
    assert cost_usd(table.price_for("gemini-2.5-pro"), usage).usd == 0.5275


def test_model_without_upper_tier_keeps_its_price(table: PriceTable) -> None:
    # gpt-5 has no >200k tier: 300,000 x 1.25 = 375,000 / 1e6 = 0.375
    assert cost_usd(table.price_for("gpt-5"), Usage(input_tokens=300_000)).usd == 0.375


def test_one_hour_cache_writes(table: PriceTable) -> None:
    usage = Usage(input_tokens=100, cache_creation_tokens=10_000, output_tokens=300)
    price = table.price_for("claude-opus-4-5-20251101")
    # 4,000 of the 10,000 writes at the 1h price
    #      100 uncached x 5      =    500
    #    6,000 writes 5m x 6.25  = 37,500
    #    4,000 writes 1h x 10    = 40,000
    #      300 output x 25       =  7,500
    #                      sum   = 85,500 / 1e6 = 0.0855
    assert cost_usd(price, usage, cache_write_1h_tokens=4_000).usd == 0.0855
    # All at 5m (the default): 500 + 10,000 x 6.25 + 7,500 = 70,500 / 1e6 = 0.0705
    assert cost_usd(price, usage).usd == 0.0705
    # More 1h tokens than writes are capped at the writes:
    # 500 + 10,000 x 10 + 7,500 = 108,000 / 1e6 = 0.108
    assert cost_usd(price, usage, cache_write_1h_tokens=50_000).usd == 0.108


def test_exact_decimal_arithmetic(table: PriceTable) -> None:
    # gpt-4o-mini, 1 input and 4 output tokens: 0.15 + 4 x 0.60 = 2.55 / 1e6 = 2.55e-6
    # (in floats, 1*0.15/1e6 + 4*0.60/1e6 is 2.5499999999999997e-06).
    assert 1 * 0.15 / 1e6 + 4 * 0.60 / 1e6 != 2.55e-6
    assert cost_usd(table.price_for("gpt-4o-mini"), Usage(input_tokens=1, output_tokens=4)).usd == 2.55e-6
    # 7 cached gpt-5-mini tokens: 7 x 0.025 = 0.175 / 1e6 = 1.75e-7
    assert cost_usd(table.price_for("gpt-5-mini"), Usage(cache_read_tokens=7)).usd == 1.75e-7


def test_rounds_to_a_billionth_of_a_dollar(table: PriceTable) -> None:
    from decimal import Decimal

    from aiproxy.pricing import ModelPrice

    # 0.0001 per 1M x 3 tokens = 3e-10 -> rounds to 0; x 7 tokens = 7e-10 -> 1e-9
    tiny = ModelPrice(*(Decimal("0.0001"),) * 5)
    assert cost_usd(tiny, Usage(input_tokens=3)).usd == 0.0
    assert cost_usd(tiny, Usage(input_tokens=7)).usd == 1e-9


def test_usage_record_is_accepted(table: PriceTable) -> None:
    record = UsageRecord(
        platform="claude", endpoint="/v1/messages", model="claude-haiku-4-5", input_tokens=1_000, output_tokens=1_000
    )
    # 1,000 x 1 + 1,000 x 5 = 6,000 / 1e6 = 0.006
    assert cost_usd(table.price_for(record.model), record).usd == 0.006


def test_unknown_model_costs_nothing_and_is_flagged(table: PriceTable) -> None:
    price = table.price_for("llama-3.1-70b-instruct")
    assert price is None
    assert cost_usd(price, Usage(input_tokens=1_000, output_tokens=1_000)) == Cost(usd=0.0, priced=False)


def test_no_tokens_costs_zero_but_is_priced(table: PriceTable) -> None:
    assert cost_usd(table.price_for("gpt-4.1"), Usage()) == Cost(usd=0.0, priced=True)
