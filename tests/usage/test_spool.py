"""Spool files across versions: a line written before the wire formats were
kept loads with them unknown, and today's lines keep them."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from aiproxy.stores.entities import UsageRecord
from aiproxy.usage.spool import UsageSpool, decode_record, encode_record

# A line as the writer spilled it before migration 10's fields existed (every
# field it knew then, and no other).
OLD_LINE = {
    "platform": "claude", "endpoint": "messages", "model": "claude-sonnet-4-5", "user_id": 1, "key_id": 2,
    "account_id": 3, "stream": True, "status": 200, "input_tokens": 10, "output_tokens": 20,
    "cache_creation_tokens": 0, "cache_read_tokens": 4, "duration_ms": 900, "ttfb_ms": 120, "error": None,
    "cache_creation_1h_tokens": 0, "cost_usd": 0.000123, "priced": True, "created_at": "2026-11-30T10:00:00",
}


def test_an_old_line_loads_with_no_formats(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir(mode=0o700)
    (spool / "usage-00000000000000000001-1-abcd.jsonl").write_text(json.dumps(OLD_LINE) + "\n")
    claim = UsageSpool(spool).claim_next()
    assert claim is not None
    try:
        [record] = claim.records
    finally:
        claim.release()
    assert (record.client_format, record.upstream_format, record.bridged) == ("", "", False)
    assert (record.model, record.input_tokens, record.created_at) == ("claude-sonnet-4-5", 10, datetime(2026, 11, 30, 10))


def test_the_formats_survive_a_spill(tmp_path: Path) -> None:
    spilled = UsageRecord("claude", "messages", "claude-sonnet-4-5", input_tokens=5,
                          client_format="anthropic-messages", upstream_format="gemini")
    row = encode_record(spilled)
    assert (row["client_format"], row["upstream_format"]) == ("anthropic-messages", "gemini")
    UsageSpool(tmp_path).write([spilled])
    claim = UsageSpool(tmp_path).claim_next()
    assert claim is not None
    try:
        assert claim.records == [spilled]
    finally:
        claim.remove()
    assert decode_record(row).bridged
