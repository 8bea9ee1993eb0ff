"""Embedded mode: the pipeline without Docker (native Kafka broker, chDB)."""

# The modules code outside this package imports (tests/unit/test_public_surface.py keeps
# this exact); the rest is internal.
__all__ = ["clickhouse", "local", "settings"]
