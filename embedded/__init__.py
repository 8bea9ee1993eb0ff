"""Embedded mode: the pipeline without Docker (native Kafka broker, chDB)."""
