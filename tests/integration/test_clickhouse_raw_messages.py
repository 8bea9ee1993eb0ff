"""Every rejected message lands in ``ingest_errors`` exactly as it arrived (issue 9 §5), on every
topic, through the real broker and ClickHouse's real Kafka engine; and reading the messages' text
in the views (``crypto_parse_*``) gives the very values ClickHouse's JSONEachRow parser gave when
the Kafka tables parsed the messages themselves.

The Kafka engine keeps the bytes of a message only when its format fails to parse it
(``_raw_message``, ``src/Storages/Kafka/KafkaSource.cpp``); a message that parsed but broke the rule
used to be written back as JSON, so ``NaN`` and ``"nan"``, ``0`` and ``0.0`` came out the same.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from embedded.clickhouse import INIT_DIR
from producers.clock import epoch_ms
from provisioning.contracts import example as contract_example
from tests.support.clickhouse_loader import rows
from tests.support.kafka_tables import KAFKA_TABLES
from tests.support.tick_data import (
    Tick,
    current_full_message,
    history_message,
    moving_average_message,
    ohlc_minute_message,
    recent_morning_ms,
)

PLACEHOLDER = '"<value>"'
# (label, the JSON text that replaces the field's value): each one must be rejected
PRICE_VALUES = [
    ("NaN literal", "NaN"),
    ('"nan" string', '"nan"'),
    ("Infinity literal", "Infinity"),
    ("-Infinity literal", "-Infinity"),
    ("null", "null"),
    ("0", "0"),
    ("0.0", "0.0"),
    ("-1", "-1"),
]


def with_value(message: dict[str, Any], field: str, value: str, **dumps: Any) -> str:
    """``message`` as JSON text with ``field``'s value written literally as ``value``."""
    text = json.dumps({**message, field: "<value>"}, **dumps)
    assert text.count(PLACEHOLDER) == 1
    return text.replace(PLACEHOLDER, value)


def price_rejects(message: dict[str, Any], price: str, time_field: str) -> list[str]:
    """The message with each bad price, then with epoch seconds instead of milliseconds; spaced
    and escaped unlike json.dumps' defaults, so only the original bytes can match."""
    texts = [
        with_value(message, price, value, separators=(" ,", " : "), ensure_ascii=False)
        for _, value in PRICE_VALUES
    ]
    seconds = {**message, time_field: message[time_field] // 1000}
    texts.append(json.dumps(seconds, indent=1))
    return texts


def time_rejects(message: dict[str, Any], field: str) -> list[str]:
    """The message with each event time that must be rejected."""
    return [
        with_value(message, field, value)
        for value in ("NaN", '"nan"', "Infinity", "null", "0", "0.0", "-1")
    ]


def ohlc_window_ms() -> int:
    return epoch_ms(datetime.now(tz=UTC)) // 60_000 * 60_000 - 120_000


def topic_cases() -> dict[str, tuple[list[str], str]]:
    """Kafka table -> (messages that must be rejected, one valid message)."""
    moment = recent_morning_ms()
    window = ohlc_window_ms()
    live = current_full_message(Tick("BAD", moment, 100.0), name="Bitcoin \u00e9t\u00e9")
    history = history_message(Tick("BAD", moment, 10.0))
    ohlc = ohlc_minute_message("BAD", window, [1.0, 2.0])
    average = moving_average_message("BAD", window, [1.0, 3.0])
    alert = {**contract_example("coins_alerts"), "event_time_ms": moment}
    delivery = contract_example("coins_alerts_deliveries")
    transaction = contract_example("portfolio_transactions")
    unreadable = '{"code": "BAD", "timestamp_ms": 17, "rate": }'
    return {
        "kafka_coins_current_full": (
            [*price_rejects(live, "rate", "timestamp_ms"), unreadable],
            json.dumps({**live, "code": "GOOD"}),
        ),
        "kafka_coins_historical": (
            [*price_rejects(history, "rate", "timestamp_ms"), "not json at all"],
            json.dumps({**history, "code": "GOOD"}),
        ),
        "kafka_coins_ohlc_minute": (
            [*price_rejects(ohlc, "close", "window_start_ms"), '{"code": "BAD", "open": 1.0'],
            json.dumps({**ohlc, "code": "GOOD"}),
        ),
        "kafka_coins_moving_average_60s": (
            [*price_rejects(average, "moving_average", "window_start_ms"), "[1, 2, 3]"],
            json.dumps({**average, "code": "GOOD"}),
        ),
        "kafka_coins_alerts": (
            [
                *time_rejects(alert, "event_time_ms"),
                json.dumps({**alert, "alert_id": ""}),
                '{"alert_id": "x", ',
            ],
            json.dumps({**alert, "alert_id": "good"}),
        ),
        "kafka_coins_alerts_deliveries": (
            [*time_rejects(delivery, "finished_at_ms"), '{"webhook": }'],
            json.dumps({**delivery, "alert_id": "good"}),
        ),
        "kafka_portfolio_transactions": (
            # a null price is valid ("market": priced from the ticks), so it is not here
            [
                with_value(transaction, "price", value, separators=(",", ":"))
                for label, value in PRICE_VALUES
                if label != "null"
            ]
            + [
                json.dumps({**transaction, "timestamp_ms": transaction["timestamp_ms"] // 1000}),
                "{}x",
            ],
            json.dumps({**transaction, "transaction_id": "good"}),
        ),
    }


def test_every_rejected_message_is_kept_byte_for_byte_on_every_topic(
    clickhouse: Any, kafka_feeder: Any
) -> None:
    cases = topic_cases()
    assert set(cases) == {table.split(".")[1] for table in kafka_feeder.tables}
    for table, (rejected, valid) in cases.items():
        (topic,) = kafka_feeder.table(table).topics
        delivered = kafka_feeder.insert_values(table, [*rejected, valid])

        errors = rows(
            clickhouse,
            "SELECT kafka_partition, kafka_offset, error, raw_message FROM crypto.ingest_errors "
            f"FINAL WHERE topic = '{topic}' ORDER BY kafka_partition, kafka_offset",
        )
        sent = {(d.partition, d.offset): text for d, text in zip(delivered, rejected, strict=False)}
        kept = {(e["kafka_partition"], e["kafka_offset"]): e["raw_message"] for e in errors}
        assert kept == sent, table
        assert all(e["error"] for e in errors), (table, errors)
        route = KAFKA_TABLES[f"crypto.{table}"]
        stored = rows(clickhouse, f"SELECT {route.key} AS key FROM {route.stored}")
        assert stored == [{"key": json.loads(valid)[route.key]}], table


def test_unreadable_and_rejected_messages_say_why(clickhouse: Any, kafka_feeder: Any) -> None:
    moment = recent_morning_ms()
    live = current_full_message(Tick("BAD", moment, 100.0))
    texts = [
        with_value(live, "rate", "NaN"),
        with_value(live, "rate", '"nan"'),
        with_value(live, "rate", "0.0"),
        '{"code": "BAD", "timestamp_ms": 17, "rate": }',
        "not json at all",
    ]
    kafka_feeder.insert_values("kafka_coins_current_full", texts)
    errors = rows(clickhouse, "SELECT error FROM crypto.ingest_errors FINAL ORDER BY kafka_offset")
    reasons = [e["error"] for e in errors]
    price = "rejected: prices must be finite numbers > 0: rate = "
    assert reasons[:3] == [f"{price}nan", f"{price}nan", f"{price}0"]
    assert reasons[3] == "unparsable: not valid JSON"
    # framing fails in the engine itself (JSONAsString): its own message, not ours
    assert reasons[4]
    assert not reasons[4].startswith(("rejected:", "unparsable:"))


# ---- valid messages: the same typed values as ClickHouse's JSONEachRow parser ------------------
def parse_function_type(topic: str) -> str:
    """The Tuple type crypto_parse_<topic> reads (its column list is the topic's columns)."""
    (path,) = INIT_DIR.glob(f"*_function_crypto_parse_{topic}.sql")
    match = re.search(r"'Tuple\((?P<columns>.*)\)'\)", path.read_text(), re.DOTALL)
    assert match, path.name
    return " ".join(match.group("columns").split())


def valid_messages(topic: str) -> list[str]:
    """Valid messages with values where two parsers could disagree: long and tiny doubles,
    integers for doubles, nulls and missing optional fields, escapes, extra fields."""
    example = contract_example(topic)
    variants: list[dict[str, Any]] = [example]
    for number in (0.1 + 0.2, 1e-300, 1.7976931348623157e308, 98_765.43210987654, 7):
        variant = dict(example)
        for field, value in example.items():
            if isinstance(value, float):
                variant[field] = number
        variants.append(variant)
    nulls = {field: None for field, value in example.items() if value is None}
    variants.append({**example, **nulls, "unknown_field": [1, {"a": 2}]})
    trimmed = {k: v for k, v in example.items() if v is not None or k in ("code",)}
    variants.append(trimmed)
    texts = [json.dumps(v) for v in variants]
    texts.append(json.dumps(example, ensure_ascii=True, indent=2))
    texts.append(json.dumps({**example, "source": 'caf\u00e9 "quoted" \\ \u2603'}))
    return texts


TOPICS = [route.contract for route in KAFKA_TABLES.values()]


def _sql_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


@pytest.mark.parametrize("topic", TOPICS)
def test_parsing_the_text_gives_what_jsoneachrow_gave(clickhouse: Any, topic: str) -> None:
    columns = parse_function_type(topic)
    for text in valid_messages(topic):
        literal = _sql_string(text)
        # JSONEachRow over the same columns: what the Kafka tables parsed before (format() runs
        # the very input format the Kafka engine ran with kafka_format = 'JSONEachRow')
        before = clickhouse.query(
            f"SELECT toString(tuple(*)) FROM format(JSONEachRow, {_sql_string(columns)}, {literal})"
        ).result_rows
        after = clickhouse.query(f"SELECT toString(crypto_parse_{topic}({literal}))").result_rows
        assert after == before, text
