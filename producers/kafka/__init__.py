"""The Kafka side of the producers: connection options, topics, the publisher."""

# The modules code outside this package imports (tests/unit/test_public_surface.py keeps
# this exact); the rest is internal.
__all__ = ["connection", "publisher", "reader", "topics"]
