"""The Kafka tables of ``clickhouse/init``, as the tests expect them: the topic setting each one's
named collection reads, its contract and the table its materialized view stores valid messages
in (with the column that names a message there). One list for every test that follows a message
through each topic."""

from __future__ import annotations

from typing import NamedTuple


class KafkaTableRoute(NamedTuple):
    variable: str  # the topic setting (COINS_TOPIC_*, COINS_ALERTS_TOPIC_*)
    contract: str  # contracts/<contract>.*.json; the table is crypto.kafka_<contract>
    stored: str  # the table the valid messages end in
    key: str  # a column of ``stored`` that tells the messages apart


_ROUTES = [
    KafkaTableRoute("COINS_TOPIC_CURRENT", "coins_current_full", "crypto.coins_ticks", "code"),
    KafkaTableRoute("COINS_TOPIC_HISTORICAL", "coins_historical", "crypto.coins_history", "code"),
    KafkaTableRoute(
        "COINS_TOPIC_OHLC_MINUTE", "coins_ohlc_minute", "crypto.ksql_ohlc_minute", "code"
    ),
    KafkaTableRoute(
        "COINS_TOPIC_MOVING_AVERAGE_60S",
        "coins_moving_average_60s",
        "crypto.ksql_moving_average_60s",
        "code",
    ),
    KafkaTableRoute(
        "COINS_TOPIC_PORTFOLIO",
        "portfolio_transactions",
        "crypto.portfolio_transactions",
        "transaction_id",
    ),
    KafkaTableRoute("COINS_ALERTS_TOPIC_ALERTS", "coins_alerts", "crypto.alerts", "alert_id"),
    KafkaTableRoute(
        "COINS_ALERTS_TOPIC_DELIVERIES",
        "coins_alerts_deliveries",
        "crypto.alert_deliveries",
        "alert_id",
    ),
]
KAFKA_TABLES = {f"crypto.kafka_{route.contract}": route for route in _ROUTES}
# Kafka table -> the topic setting its named collection reads
KAFKA_TABLE_TOPICS = {name: route.variable for name, route in KAFKA_TABLES.items()}
