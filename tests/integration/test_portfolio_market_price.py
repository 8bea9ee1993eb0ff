"""The "market" price of a transaction on the real ClickHouse engine, against the reference's
plain definition (the coin's last history point or live tick at or before it, at most 7 days
older): each place the view finds a candidate (crypto.portfolio_transactions_priced, 341) is
exercised — a tick earlier in the transaction's hour, a tick at the very millisecond, ticks only
before a gap of over an hour (minute rollup), the previous day's last tick (day rollup), a
history point, and nothing within 7 days — for the coin and for BTC at the same time.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from producers.clock import epoch_ms
from tests.support.portfolio_data import parsed, portfolio_messages
from tests.support.reference_portfolio import priced
from tests.support.tick_data import Tick, as_json, current_full_message, history_message

DAY = dt.datetime(2025, 3, 10, tzinfo=dt.UTC)


def at(days: int = 0, hours: float = 0.0, seconds: float = 0.0) -> dt.datetime:
    return DAY + dt.timedelta(days=days, hours=hours, seconds=seconds)


LIVE = [
    Tick("SOL", epoch_ms(at(hours=8)), 100.0),
    Tick("SOL", epoch_ms(at(hours=8, seconds=30)), 101.0),
    Tick("SOL", epoch_ms(at(hours=8, seconds=95)), 102.0),
    Tick("SOL", epoch_ms(at(hours=15)), 103.0),  # later that day: the day's last tick is after
    Tick("BTC", epoch_ms(at(days=-1, hours=23)), 49_000.0),
    Tick("BTC", epoch_ms(at(hours=7, seconds=3590)), 50_000.0),
]
HISTORY = [
    Tick("SOL", epoch_ms(at(days=-2, hours=12)), 90.0),
    Tick("BTC", epoch_ms(at(days=-3, hours=12)), 48_000.0),
]
BUYS = {
    "own-hour": at(hours=8, seconds=20),  # the 08:00:00 tick, read with its hour
    "same-millisecond": at(hours=8, seconds=30),  # the tick at that very time
    "next-minute": at(hours=8, seconds=100),  # 08:01:35, a minute later than the others
    "after-a-gap": at(hours=10.25),  # nothing since 08:01:35: minute rollup of the day
    "next-day": at(days=1, hours=0.5),  # the day before's last tick, 15:00 (day rollup)
    "before-the-ticks": at(hours=7),  # only the history point two days before
    "day-before": at(days=-1, hours=11),  # history; BTC's history point too
    "too-old": at(days=9),  # the last observation is more than 7 days older: none
}


def test_every_market_price_is_the_last_observation_within_seven_days(
    clickhouse: Any, kafka_feeder: Any
) -> None:
    transactions = parsed(
        {
            "p": [
                {"id": name, "at": moment, "type": "buy", "coin": "SOL", "quantity": 1}
                for name, moment in BUYS.items()
            ]
        }
    )
    kafka_feeder.insert_values("kafka_coins_historical", as_json(map(history_message, HISTORY)))
    kafka_feeder.insert_values("kafka_coins_current_full", as_json(map(current_full_message, LIVE)))
    values, keys = portfolio_messages(transactions, version_ms=1)
    kafka_feeder.insert_values("kafka_portfolio_transactions", values, keys=keys)

    stored = {
        row[0]: (row[1], row[2])
        for row in clickhouse.query(
            "SELECT transaction_id, resolved_price, btc_price "
            "FROM crypto.portfolio_transactions_priced WHERE portfolio = 'p'"
        ).result_rows
    }
    expected = {
        item.transaction.transaction_id: (item.price, item.btc_price)
        for item in priced(transactions, HISTORY + LIVE)
    }
    assert stored == expected
    # the scenario means what it says: each place a candidate comes from is used
    assert expected["own-hour"] == (100.0, 50_000.0)
    assert expected["after-a-gap"] == (102.0, 50_000.0)
    assert expected["next-day"] == (103.0, 50_000.0)
    assert expected["before-the-ticks"] == (90.0, 49_000.0)
    assert expected["day-before"] == (90.0, 48_000.0)
    assert expected["too-old"] == (None, None)
