"""Portfolio: transactions as code (YAML), validated, published to a compacted Kafka topic."""

# The modules code outside this package imports (tests/unit/test_public_surface.py keeps
# this exact); the rest is internal.
__all__ = ["messages", "state"]
