"""Settings of ``make local`` and of ``coins top`` / ``coins sql`` (``COINS_*`` variables / .env).

The producers' own settings stay in ``producers/settings.py``; the supervisor only overrides
their Kafka bootstrap with the embedded broker's address.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from producers.env_settings import ClickHouseConnectionSettings


class LocalSettings(ClickHouseConnectionSettings):
    """Every field maps to ``COINS_<FIELD NAME IN UPPER CASE>``; ``COINS_CLICKHOUSE_URL`` empty
    means the embedded store."""

    model_config = SettingsConfigDict(env_prefix="COINS_")

    local_dir: Path = Field(
        default=Path(".local"), description="Broker and ClickHouse data of `make local`."
    )
    local_kafka_port: int = Field(default=9092, ge=1, le=65535)
    """Port on 127.0.0.1 of the `make local` Kafka broker."""
    local_kafka_controller_port: int = Field(default=9093, ge=1, le=65535)
    """Port on 127.0.0.1 of its KRaft controller."""
    local_kafka_heap: str = "384m"
    """Java heap of that broker."""
    local_drain_seconds: float = Field(
        default=30.0, gt=0, description="How long a stop waits for ClickHouse to catch up."
    )
    # The same variable as the compose `backfill` service.
    backfill_daily_at_utc: str = Field(
        default="12:20",
        description="The backfill runs at start, then every day at this time (HH:MM UTC, after "
        "the 12:00 UTC daily close has settled).",
    )
    top_refresh_seconds: float = Field(default=5.0, gt=0)
    """`coins top` refresh period."""
    top_stale_after_seconds: float = Field(default=60.0, gt=0)
    """Age after which `coins top` shows the newest tick in red."""

    @property
    def clickhouse_dir(self) -> Path:
        return self.local_dir / "clickhouse"

    @property
    def kafka_dir(self) -> Path:
        return self.local_dir / "kafka"
