"""Every setting of the producers, read from ``COINS_*`` environment variables or a ``.env`` file.

Validation happens once at start so a typo fails loudly with the variable name in the message
instead of surfacing as a strange runtime error hours later.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from producers.env_settings import KafkaConnectionSettings

DEFAULT_COINS = ("USDT", "BTC", "ETH", "FDUSD", "XRP", "SOL", "USDC", "DOGE", "LINK", "AAVE")

# Only codecs aiokafka can use without optional native packages are offered by default.
Compression = Literal["none", "gzip", "snappy", "lz4", "zstd"]

# LiveCoinWatch codes are letters and digits, some with '_' or '.' prefixes/suffixes.
COIN_CODE = re.compile(r"[A-Z0-9_.\-]{1,32}")
WEEK_MS = 7 * 24 * 3600 * 1000
MONTH_MS = 30 * 24 * 3600 * 1000
# A string setting named topic_<role> holds a topic name (producers.kafka.topics.topic_variables).
TOPIC_FIELD_PREFIX = "topic_"
# Kafka's own rule (Topic.validate): also keeps a name safe inside XML, SQL and ksqlDB text.
TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")


class Settings(KafkaConnectionSettings):
    """Producer configuration. Every field maps to ``COINS_<FIELD NAME IN UPPER CASE>``; the
    Kafka connection (``COINS_KAFKA_*``) is ``KafkaConnectionSettings``."""

    model_config = SettingsConfigDict(env_prefix="COINS_")

    # --- LiveCoinWatch -------------------------------------------------------------------
    lcw_api_key: SecretStr | None = Field(
        default=None, description="LiveCoinWatch API key; absent means the demo source."
    )
    lcw_base_url: str = "https://api.livecoinwatch.com"
    """API base URL (the tests point it at their fake server)."""
    coins: Annotated[tuple[str, ...], NoDecode] = DEFAULT_COINS
    """Coin codes to follow, comma-separated (a JSON list works too)."""
    currency: str = "USD"
    """Quote currency of every price."""
    http_timeout_seconds: float = Field(default=10.0, gt=0)
    """Read, write and pool timeout of an API call."""
    http_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    """Connect timeout of an API call."""
    retry_attempts: int = Field(default=6, ge=1, le=50)
    """Attempts per API call after a 429, 500, 503, a timeout or a connection error."""
    retry_initial_seconds: float = Field(default=1.0, ge=0)
    """First backoff (doubles, full jitter); a Retry-After header wins when sent."""
    retry_max_seconds: float = Field(default=60.0, ge=0)
    """Bound of any single wait, Retry-After included."""

    # --- credit budget -------------------------------------------------------------------
    stream_credit_share: float = Field(
        default=0.9,
        gt=0,
        le=1,
        description="Share of the key's daily credits the stream may spend; the rest is "
        "left for the backfill and anything else using the key.",
    )
    credits_refresh_seconds: float = Field(default=900.0, gt=0)
    """How often the stream re-reads the key's credits (/credits)."""
    stream_min_interval_seconds: float = Field(
        default=1.0, ge=0, description="Never poll faster than this, however large the plan."
    )

    # --- demo source ---------------------------------------------------------------------
    demo_interval_seconds: float = Field(default=5.0, gt=0)
    """Seconds between two cycles of the demo source."""
    demo_seed: int | None = None
    """Seed of the demo random walk; empty = random."""

    # --- Kafka ---------------------------------------------------------------------------
    kafka_compression: Compression = "gzip"
    """none or gzip (snappy, lz4, zstd need their Python packages)."""
    kafka_linger_ms: int = Field(default=20, ge=0)
    """Producer batching delay."""
    kafka_ack_timeout_seconds: float = Field(default=30.0, gt=0)
    """Wait for the acknowledgements before an attempt is retried."""
    kafka_retry_initial_seconds: float = Field(default=0.5, ge=0)
    """First backoff while the broker is unreachable."""
    kafka_retry_max_seconds: float = Field(default=10.0, ge=0)
    """Bound of that backoff."""
    shutdown_timeout_seconds: float = Field(default=30.0, gt=0)
    """Total time from SIGTERM/SIGINT to the exit (flush, producer stop); exit 1 if data was still
    unacknowledged."""
    stream_buffer_cycles: int = Field(default=10_000, ge=1)
    """Fetched cycles kept in memory while Kafka is unreachable."""

    # Topic names: the one place that writes them. Every other consumer (ClickHouse's named
    # collections, the ksqlDB statements, compose) reads the same COINS_TOPIC_* variables
    # (producers.kafka.topics.topic_variables; docs/stack.md "Topic names").
    topic_current: str = "coins_current_full"
    """Topic of the current prices."""
    topic_historical: str = "coins_historical"
    """Topic of the history."""
    topic_dead_letter: str = "coins_dead_letter"
    """Topic of the invalid payloads, with the error."""
    topic_backfill_progress: str = "coins_backfill_progress"
    """Topic of the backfill progress (compacted)."""
    topic_portfolio: str = "portfolio_transactions"
    """Topic of the portfolio transactions (compacted)."""
    topic_ohlc_minute: str = "coins_ohlc_minute"
    """Topic of ksqlDB's 1-minute OHLC (written by ksqldb/020, read by clickhouse/init/012)."""
    topic_moving_average_60s: str = "coins_moving_average_60s"
    """Topic of the 60 s moving average (written by ksqldb/030, read by clickhouse/init/013)."""
    topic_ksqldb_applied: str = "coins_ksqldb_applied"
    """Topic of the ksqlDB applier's record of applied statements."""
    topic_partitions: int = Field(default=3, ge=1)
    """Partitions of the topics the producers create."""
    topic_replication_factor: int = Field(default=1, ge=1)
    """Replication factor of the topics the producers create (3 on a managed cluster)."""
    current_retention_ms: int = Field(default=WEEK_MS, ge=-1)
    """Retention of the current prices topic (7 days)."""
    historical_retention_ms: int = Field(default=-1, ge=-1)
    """Retention of the history topic (-1: forever)."""
    dead_letter_retention_ms: int = Field(default=MONTH_MS, ge=-1)
    """Retention of the dead-letter topic (30 days)."""

    # --- backfill ------------------------------------------------------------------------
    backfill_since: dt.date = dt.date(2024, 1, 1)
    """First day the backfill fetches (UTC, YYYY-MM-DD)."""
    backfill_initial_span_days: int = Field(default=30, ge=1)
    """First range length tried."""
    backfill_max_span_days: int = Field(default=365, ge=1)
    """Longest range ever asked."""
    backfill_calls_per_second: float = Field(
        default=2.0,
        gt=0,
        description="Most API calls per second the backfill makes; it slows down after a 429.",
    )
    backfill_close_settle_minutes: int = Field(
        default=15,
        ge=0,
        description="How long after 12:00 UTC today's close is considered final.",
    )

    @field_validator("coins", mode="before")
    @classmethod
    def _split_coins(cls, value: object) -> object:
        if isinstance(value, str):
            if value.strip().startswith("["):
                return json.loads(value)  # a JSON list works too
            return tuple(part for part in (p.strip() for p in value.split(",")) if part)
        return value

    @field_validator("coins")
    @classmethod
    def _normalise_coins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        codes = tuple(dict.fromkeys(code.strip().upper() for code in value))
        if not codes:
            raise ValueError("COINS_COINS must name at least one coin code, e.g. BTC,ETH")
        bad = [code for code in codes if not COIN_CODE.fullmatch(code)]
        if bad:
            raise ValueError(f"COINS_COINS holds invalid coin codes: {bad}")
        return codes

    @field_validator("currency")
    @classmethod
    def _upper_currency(cls, value: str) -> str:
        value = value.strip().upper()
        if not value.isalnum():
            raise ValueError("COINS_CURRENCY must be a currency code such as USD")
        return value

    @field_validator("lcw_api_key", mode="before")
    @classmethod
    def _blank_key_is_absent(cls, value: object) -> object:
        # An empty COINS_LCW_API_KEY= line in .env means "no key", not "an empty key".
        if isinstance(value, str):
            value = value.strip()  # a pasted key often brings a newline along
            if not value:
                return None
            if not all("!" <= char <= "~" for char in value):
                # Found now rather than as an encoding error inside the first HTTP call.
                raise ValueError(
                    "COINS_LCW_API_KEY holds spaces, control or non-ASCII characters, which "
                    "an HTTP header cannot carry: check the value you pasted"
                )
        return value

    @field_validator("lcw_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("COINS_LCW_BASE_URL must start with http:// or https://")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.retry_max_seconds < self.retry_initial_seconds:
            raise ValueError("COINS_RETRY_MAX_SECONDS must be >= COINS_RETRY_INITIAL_SECONDS")
        if self.backfill_max_span_days < self.backfill_initial_span_days:
            raise ValueError(
                "COINS_BACKFILL_MAX_SPAN_DAYS must be >= COINS_BACKFILL_INITIAL_SPAN_DAYS"
            )
        topics = [
            value
            for name, value in self.__dict__.items()
            if name.startswith(TOPIC_FIELD_PREFIX) and isinstance(value, str)
        ]
        if len(set(topics)) != len(topics):
            raise ValueError("the COINS_TOPIC_* names must all differ")
        invalid = [topic for topic in topics if not TOPIC_NAME.fullmatch(topic)]
        if invalid:
            raise ValueError(f"COINS_TOPIC_* names must be Kafka topic names: {invalid}")
        return self

    @property
    def demo(self) -> bool:
        """True when no API key is configured: prices come from the demo random walk."""
        return self.lcw_api_key is None

    @property
    def source_name(self) -> str:
        return "demo" if self.demo else "livecoinwatch"
