"""Alerts: rules as code, evaluated on the Kafka stream and on ClickHouse, delivered to webhooks."""

# The modules code outside this package imports (tests/unit/test_public_surface.py keeps
# this exact); the rest is internal.
__all__ = ["cli", "models", "rules", "settings", "topics"]
