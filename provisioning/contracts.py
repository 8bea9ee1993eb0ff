"""Each topic's message contract as a JSON Schema, generated from the pydantic wire models.

``make contracts`` (``python -m provisioning.contracts``) writes ``contracts/<topic>.schema.json``
next to the topic's example message ``contracts/<topic>.example.json``. The models are the one
source: tests fail when a committed schema differs from what the models generate, and check
the producers' output, ksqlDB's columns and ClickHouse's Kafka tables against the schemas.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from alerts.models import AlertMessage, DeliveryMessage
from alerts.settings import AlertSettings
from portfolio.messages import TransactionMessage
from producers.kafka.topics import topic_defaults
from producers.models import CurrentMessage, DeadLetterMessage, HistoricalMessage
from producers.settings import Settings
from provisioning.ksqldb_messages import MovingAverageMessage, OhlcMinuteMessage

__all__ = [
    "CONTRACTS_DIR",
    "WIRE_MODELS",
    "example",
    "example_path",
    "json_schema",
    "main",
    "schema",
    "schema_path",
    "stale_schemas",
    "write_schemas",
]

CONTRACTS_DIR = Path(__file__).resolve().parents[1] / "contracts"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

# The value model of every topic, under the topic's default name (the contract's file name),
# which the settings models hold (producers/settings.py, alerts/settings.py).
_DEFAULT_TOPICS = topic_defaults(Settings, AlertSettings)
WIRE_MODELS: dict[str, type[BaseModel]] = {
    _DEFAULT_TOPICS["COINS_TOPIC_CURRENT"]: CurrentMessage,
    _DEFAULT_TOPICS["COINS_TOPIC_HISTORICAL"]: HistoricalMessage,
    _DEFAULT_TOPICS["COINS_TOPIC_DEAD_LETTER"]: DeadLetterMessage,
    _DEFAULT_TOPICS["COINS_TOPIC_OHLC_MINUTE"]: OhlcMinuteMessage,
    _DEFAULT_TOPICS["COINS_TOPIC_MOVING_AVERAGE_60S"]: MovingAverageMessage,
    _DEFAULT_TOPICS["COINS_ALERTS_TOPIC_ALERTS"]: AlertMessage,
    _DEFAULT_TOPICS["COINS_ALERTS_TOPIC_DELIVERIES"]: DeliveryMessage,
    _DEFAULT_TOPICS["COINS_TOPIC_PORTFOLIO"]: TransactionMessage,
}


def schema_path(topic: str, directory: Path = CONTRACTS_DIR) -> Path:
    return directory / f"{topic}.schema.json"


def example_path(topic: str, directory: Path = CONTRACTS_DIR) -> Path:
    return directory / f"{topic}.example.json"


def json_schema(topic: str) -> dict[str, Any]:
    """The schema of the topic's message value, as its model writes it (every field present)."""
    generated = WIRE_MODELS[topic].model_json_schema(mode="serialization")
    generated.pop("title", None)
    return {"$schema": JSON_SCHEMA_DIALECT, "$id": schema_path(topic).name, "title": topic} | (
        generated
    )


def _render(topic: str) -> str:
    return json.dumps(json_schema(topic), indent=2, ensure_ascii=False) + "\n"


def schema(topic: str, directory: Path = CONTRACTS_DIR) -> dict[str, Any]:
    """The committed schema of a topic."""
    loaded: dict[str, Any] = json.loads(schema_path(topic, directory).read_text(encoding="utf-8"))
    return loaded


def example(topic: str, directory: Path = CONTRACTS_DIR) -> dict[str, Any]:
    """The committed example message of a topic."""
    loaded: dict[str, Any] = json.loads(example_path(topic, directory).read_text(encoding="utf-8"))
    return loaded


def write_schemas(directory: Path = CONTRACTS_DIR) -> list[Path]:
    """Write every topic's schema; returns the files whose content changed."""
    changed: list[Path] = []
    for topic in WIRE_MODELS:
        path = schema_path(topic, directory)
        text = _render(topic)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def stale_schemas(directory: Path = CONTRACTS_DIR) -> list[Path]:
    """The committed schemas that differ from what the models generate (or are missing)."""
    return [
        schema_path(topic, directory)
        for topic in WIRE_MODELS
        if not schema_path(topic, directory).is_file()
        or schema_path(topic, directory).read_text(encoding="utf-8") != _render(topic)
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m provisioning.contracts",
        description="Write contracts/<topic>.schema.json from the pydantic wire models.",
    )
    parser.add_argument("--directory", type=Path, default=CONTRACTS_DIR)
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if a schema is out of date"
    )
    arguments = parser.parse_args(argv)
    if arguments.check:
        stale = stale_schemas(arguments.directory)
        for path in stale:
            print(f"{path} is out of date: run make contracts", file=sys.stderr)
        return 1 if stale else 0
    for path in write_schemas(arguments.directory):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
