"""ingestion_health stays live (no snapshot): its live rows read only the ticks since the
stalest coin's last tick, so check it on coins that are fresh, stale, and fed by two sources."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from producers.clock import epoch_ms
from tests.support.clickhouse_loader import rows
from tests.support.tick_data import Tick, as_json, current_full_message


def test_live_health_reports_the_latest_source_its_age_and_its_ticks_of_the_last_hour(
    clickhouse: Any, kafka_feeder: Any
) -> None:
    now = datetime.now(tz=UTC).replace(microsecond=0)

    def tick(code: str, minutes_ago: int, source: str) -> dict[str, Any]:
        moment = epoch_ms(now - timedelta(minutes=minutes_ago))
        return current_full_message(Tick(code, moment, 1.0 + minutes_ago), source=source)

    messages = [
        # BTC: older ticks from the demo source, the latest three from livecoinwatch
        tick("BTC", 180, "demo"),
        tick("BTC", 50, "demo"),
        tick("BTC", 90, "livecoinwatch"),
        tick("BTC", 40, "livecoinwatch"),
        tick("BTC", 20, "livecoinwatch"),
        tick("BTC", 5, "livecoinwatch"),
        tick("BTC", 5, "livecoinwatch"),  # a duplicate counts once
        # ETH: stale for three days, nothing in the last hour
        tick("ETH", 3 * 24 * 60, "livecoinwatch"),
        tick("ETH", 3 * 24 * 60 + 10, "livecoinwatch"),
        # SOL: one fresh tick
        tick("SOL", 1, "demo"),
    ]
    kafka_feeder.insert_values("kafka_coins_current_full", as_json(messages))

    health = {
        row["code"]: row
        for row in rows(clickhouse, "SELECT * FROM crypto.ingestion_health WHERE dataset = 'live'")
    }
    assert set(health) == {"BTC", "ETH", "SOL"}
    expected = {
        "BTC": ("livecoinwatch", 5, 3),
        "ETH": ("livecoinwatch", 3 * 24 * 60, 0),
        "SOL": ("demo", 1, 1),
    }
    for code, (source, minutes_ago, ticks_last_hour) in expected.items():
        row = health[code]
        assert row["source"] == source, code
        # the client returns naive datetimes in UTC
        last_tick_at = row["last_tick_at"].replace(tzinfo=UTC)
        assert last_tick_at == now - timedelta(minutes=minutes_ago), code
        assert row["rows_last_hour"] == ticks_last_hour, code
        assert row["age_seconds"] == pytest.approx(minutes_ago * 60, abs=120), code
