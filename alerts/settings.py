"""Every setting of ``coins alerts``, read from ``COINS_ALERTS_*`` variables or ``.env``.

Kafka, the followed coins, the tick topic, the dead-letter topic and logging are the producers'
settings (``producers/settings.py``): the alert service reads those, never a copy of them.
Webhook URLs and tokens are secrets: ``SecretStr``, masked in every log line.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from producers.env_settings import ClickHouseConnectionSettings
from producers.settings import TOPIC_NAME

DEFAULT_RULES_FILE = Path(__file__).resolve().parent / "rules.yaml"
WEBHOOK_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
WEEK_MS = 7 * 24 * 3600 * 1000
MONTH_MS = 30 * 24 * 3600 * 1000

WebhookKind = Literal["generic", "slack", "discord", "ntfy"]


class WebhookConfig(BaseModel):
    """One delivery target. ``url`` (and ``token``) are secrets: they never reach a log line."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    name: str
    kind: WebhookKind = "generic"
    url: SecretStr
    token: SecretStr | None = Field(
        default=None, description="sent as 'Authorization: Bearer <token>' (ntfy access tokens)"
    )
    ntfy_topic: str | None = Field(default=None, description="ntfy: the topic to publish to")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not WEBHOOK_NAME.fullmatch(value):
            raise ValueError("a webhook name is lower-case letters, digits, '-' or '_'")
        return value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith(("http://", "https://")):
            raise ValueError("a webhook url must start with http:// or https://")
        return value

    @model_validator(mode="after")
    def _ntfy_topic(self) -> WebhookConfig:
        if self.kind == "ntfy" and not self.ntfy_topic:
            raise ValueError(f"webhook {self.name}: kind ntfy needs ntfy_topic")
        return self


class AlertSettings(ClickHouseConnectionSettings):
    """Alert service configuration. Every field maps to ``COINS_ALERTS_<FIELD IN UPPER CASE>``,
    but the ClickHouse server of the indicator and pipeline rules: ``COINS_CLICKHOUSE_URL``
    (absent = those rules are not evaluated, said at start)."""

    model_config = SettingsConfigDict(env_prefix="COINS_ALERTS_")

    rules_file: Path = DEFAULT_RULES_FILE
    """The rules file (alerts/rules.yaml in the package)."""
    # A JSON list: [{"name": "ops", "kind": "slack", "url": "https://hooks.slack.com/..."}]
    webhooks: list[WebhookConfig] = Field(default_factory=list)
    """Webhooks as a JSON list of {name, kind, url, token?, ntfy_topic?} (secrets: URLs and
    tokens never reach a log line); kind: generic, slack, discord or ntfy. [] = alerts only on
    the coins_alerts topic and the Alerts dashboard."""

    # Topic names (ClickHouse reads the first and the last: clickhouse/config.d, from_env).
    topic_alerts: str = "coins_alerts"
    """Topic of the alerts (ClickHouse reads it)."""
    topic_state: str = "coins_alerts_state"
    """Topic of the rules' state checkpoints (compacted)."""
    topic_deliveries: str = "coins_alerts_deliveries"
    """Topic of the webhook delivery outcomes (ClickHouse reads it)."""
    alerts_partitions: int = Field(
        default=1, ge=1, description="one partition keeps every rule's alerts in firing order"
    )
    alerts_retention_ms: int = Field(default=-1, ge=-1)
    """Retention of the alerts topic (-1: forever)."""
    deliveries_retention_ms: int = Field(default=MONTH_MS, ge=-1)
    """Retention of the deliveries topic (30 days)."""

    consumer_group: str = Field(
        default="coins-alerts", description="prefix of the delivery consumer groups"
    )
    checkpoint_interval_seconds: float = Field(default=1.0, gt=0)
    """State checkpoint period."""
    fetch_max_wait_ms: int = Field(default=100, ge=1)
    """Longest wait of a tick fetch (latency)."""
    warmup_margin_seconds: float = Field(default=120.0, ge=0)
    """Extra ticks re-read before the longest window at start."""
    schedule_interval_seconds: float = Field(default=60.0, gt=0)
    """How often the scheduled rules run (the snapshots refresh every minute)."""

    delivery_attempts: int = Field(default=8, ge=1, le=50)
    """Tries per webhook delivery."""
    delivery_initial_seconds: float = Field(default=1.0, ge=0)
    """First backoff between webhook tries (doubles)."""
    delivery_max_seconds: float = Field(default=60.0, ge=0)
    """Bound of that backoff."""
    delivery_timeout_seconds: float = Field(default=10.0, gt=0)
    """HTTP timeout of one webhook call."""

    heartbeat_file: Path | None = Path("/tmp/coins-alerts-heartbeat")  # noqa: S108 - container healthcheck
    """Touched every loop turn; the compose healthcheck wants it under a minute old."""

    @model_validator(mode="after")
    def _consistent(self) -> AlertSettings:
        names = [hook.name for hook in self.webhooks]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"COINS_ALERTS_WEBHOOKS: names must differ, repeated: {duplicates}")
        topics = [self.topic_alerts, self.topic_state, self.topic_deliveries]
        if len(set(topics)) != len(topics):
            raise ValueError("the COINS_ALERTS_TOPIC_* names must all differ")
        invalid = [topic for topic in topics if not TOPIC_NAME.fullmatch(topic)]
        if invalid:
            raise ValueError(f"COINS_ALERTS_TOPIC_* names must be Kafka topic names: {invalid}")
        if self.delivery_max_seconds < self.delivery_initial_seconds:
            raise ValueError(
                "COINS_ALERTS_DELIVERY_MAX_SECONDS must be >= COINS_ALERTS_DELIVERY_INITIAL_SECONDS"
            )
        return self
