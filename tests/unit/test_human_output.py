"""What people read: Kafka error codes by their protocol names, epoch milliseconds as UTC."""

from __future__ import annotations

import datetime as dt

from producers.errors import CreditsExhaustedError
from producers.kafka.connection import kafka_error_name


def test_kafka_error_codes_are_shown_by_name() -> None:
    assert kafka_error_name(29) == "TOPIC_AUTHORIZATION_FAILED (29)"
    assert kafka_error_name(36) == "TOPIC_ALREADY_EXISTS (36)"
    assert kafka_error_name(3) == "UNKNOWN_TOPIC_OR_PARTITION (3)"
    assert kafka_error_name(31337) == "unknown Kafka error 31337"


def test_credit_exhaustion_says_when_credits_come_back_in_utc() -> None:
    reset = dt.datetime(2026, 12, 2, tzinfo=dt.UTC)
    error = CreditsExhaustedError(int(reset.timestamp() * 1000), "daily credits spent")
    assert str(error) == "daily credits spent (until 2026-12-02T00:00:00Z)"
    assert error.resume_at_ms == 1_796_169_600_000
