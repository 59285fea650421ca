"""What every pair shares (formats/bridges/base): the output cap's clamp of a limit and of a thinking budget."""

from __future__ import annotations

from aiproxy.formats.bridges.base import RequestOptions


def test_a_limit_is_lowered_to_the_cap_and_never_raised() -> None:
    capped = RequestOptions(model="gpt-4o", max_output=16384)
    assert [capped.clamp(n) for n in (64000, 16385, 16384, 256, 1)] == [16384, 16384, 16384, 256, 1]
    uncapped = RequestOptions(model="my-model")
    assert uncapped.max_output is None and uncapped.clamp(64000) == 64000


def test_a_budget_is_kept_below_the_cap() -> None:
    capped = RequestOptions(model="m", max_output=8192)
    assert [capped.clamp_budget(n) for n in (31999, 8192, 8191, 1024, 0)] == [8191, 8191, 8191, 1024, 0]
    assert RequestOptions(model="m", max_output=1).clamp_budget(5) == 0
    assert RequestOptions(model="m").clamp_budget(31999) == 31999
