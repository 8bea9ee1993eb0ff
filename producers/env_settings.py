"""What every settings model of the project shares: where it reads from, and the connections.

Each console script has one settings model (``COINS_*`` for the producers, ``COINS_ALERTS_*``,
``KSQLDB_*``, ``METABASE_*``, ...). They all read the environment and ``.env`` the same way
(``EnvSettings``), and the two connections several of them need are declared once, each with
one variable name whatever the model's prefix: ``KafkaConnectionSettings``
(``COINS_KAFKA_*``) and ``ClickHouseConnectionSettings`` (``COINS_CLICKHOUSE_URL``).

Names: a duration in seconds ends in ``_seconds`` (``_ms`` where Kafka speaks milliseconds);
compose passes every variable under the same name the model reads, so a line of ``.env`` means
the same on the host and in a container. docs/settings.md is generated from these models
(``make settings-doc``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]

# The host side of compose.yaml's published ports (127.0.0.1:<port>): a host tool run with no
# .env reaches the stack `make up` started.
STACK_KAFKA_BOOTSTRAP = "localhost:9094"
STACK_CLICKHOUSE_URL = "http://admin:admin-local-only@localhost:8123"


class EnvSettings(BaseSettings):
    """Read from the environment, then ``.env``; frozen; errors never echo a value (secrets)."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        hide_input_in_errors=True,
        # Fields whose variable is fixed by an alias can still be given by name in code.
        populate_by_name=True,
        # The string under a field is its description (docs/settings.md shows it).
        use_attribute_docstrings=True,
    )


def env_name(model: type[BaseSettings], field_name: str) -> str:
    """The environment variable a field of ``model`` is read from."""
    field: FieldInfo = model.model_fields[field_name]
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        alias = alias.choices[0]
    if isinstance(alias, str):
        return alias.upper()
    prefix = str(model.model_config.get("env_prefix", ""))
    return (prefix + field_name).upper()


def _fixed(name: str) -> Any:
    """The variable of a shared field, the same under every model's prefix."""
    return AliasChoices(name)


class KafkaConnectionSettings(EnvSettings):
    """Where the Kafka broker is and how to log in to it (``COINS_KAFKA_*``)."""

    kafka_bootstrap_servers: str = Field(
        default=STACK_KAFKA_BOOTSTRAP,
        validation_alias=_fixed("COINS_KAFKA_BOOTSTRAP_SERVERS"),
        description="Kafka bootstrap servers. The default is the stack's port on this machine; "
        "its containers use kafka:9092.",
    )
    kafka_security_protocol: SecurityProtocol = Field(
        default="PLAINTEXT",
        validation_alias=_fixed("COINS_KAFKA_SECURITY_PROTOCOL"),
        description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (a managed cluster).",
    )
    kafka_sasl_mechanism: SaslMechanism | None = Field(
        default=None,
        validation_alias=_fixed("COINS_KAFKA_SASL_MECHANISM"),
        description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; needed by the SASL protocols.",
    )
    kafka_sasl_username: str | None = Field(
        default=None, validation_alias=_fixed("COINS_KAFKA_SASL_USERNAME"), description="SASL user."
    )
    kafka_sasl_password: SecretStr | None = Field(
        default=None,
        validation_alias=_fixed("COINS_KAFKA_SASL_PASSWORD"),
        description="SASL password (secret).",
    )

    @model_validator(mode="after")
    def _sasl_complete(self) -> KafkaConnectionSettings:
        if self.kafka_security_protocol.startswith("SASL"):
            missing = [
                name
                for name, value in (
                    ("COINS_KAFKA_SASL_MECHANISM", self.kafka_sasl_mechanism),
                    ("COINS_KAFKA_SASL_USERNAME", self.kafka_sasl_username),
                    ("COINS_KAFKA_SASL_PASSWORD", self.kafka_sasl_password),
                )
                if value is None
            ]
            if missing:
                raise ValueError(
                    f"COINS_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs "
                    + ", ".join(missing)
                )
        return self


class ClickHouseConnectionSettings(EnvSettings):
    """A ClickHouse server (``COINS_CLICKHOUSE_URL``)."""

    clickhouse_url: SecretStr | None = Field(
        default=None,
        validation_alias=_fixed("COINS_CLICKHOUSE_URL"),
        description="clickhouse-connect URL of a ClickHouse server (secret: it may hold a "
        "password), e.g. http://admin:admin-local-only@localhost:8123. Empty: `coins top` / "
        "`coins sql` open the embedded store of `make local`, `coins alerts` skips its "
        "ClickHouse rules, `coins-verify` asks the stack's server on localhost:8123.",
    )

    @field_validator("clickhouse_url", mode="before")
    @classmethod
    def _blank_is_absent(cls, value: object) -> object:
        # `COINS_CLICKHOUSE_URL=` in .env (as .env.example has it) means "not set".
        if isinstance(value, str) and not value.strip():
            return None
        return value

    def clickhouse_dsn(self, default: str | None = None) -> str | None:
        """The URL in clear (for the client only, never a log line), else ``default``."""
        if self.clickhouse_url is None:
            return default
        return self.clickhouse_url.get_secret_value()
