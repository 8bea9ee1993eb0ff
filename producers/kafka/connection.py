"""Connection options shared by every Kafka client the producers open (producer, admin,
consumer), so a managed cluster (SASL_SSL, e.g. Confluent Cloud) is configured once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiokafka.errors import for_code
from aiokafka.helpers import create_ssl_context
from pydantic import SecretStr

from producers.env_settings import KafkaConnectionSettings


@dataclass(frozen=True)
class KafkaConnection:
    bootstrap_servers: str
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: KafkaConnectionSettings) -> KafkaConnection:
        return cls(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            security_protocol=settings.kafka_security_protocol,
            sasl_mechanism=settings.kafka_sasl_mechanism,
            sasl_username=settings.kafka_sasl_username,
            sasl_password=settings.kafka_sasl_password,
        )

    def client_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
        }
        if self.security_protocol in ("SSL", "SASL_SSL"):
            options["ssl_context"] = create_ssl_context()
        if self.security_protocol.startswith("SASL"):
            options["sasl_mechanism"] = self.sasl_mechanism or "PLAIN"
            options["sasl_plain_username"] = self.sasl_username
            options["sasl_plain_password"] = (
                self.sasl_password.get_secret_value() if self.sasl_password else None
            )
        return options


def kafka_error_name(code: int) -> str:
    """A Kafka protocol error code as people read it: ``TOPIC_AUTHORIZATION_FAILED (29)``
    (aiokafka's error classes carry the protocol's names)."""
    name = getattr(for_code(code), "message", "UNKNOWN")
    return f"{name} ({code})" if name != "UNKNOWN" else f"unknown Kafka error {code}"
