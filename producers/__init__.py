"""LiveCoinWatch (or demo) prices to Kafka."""

# The modules code outside this package imports (tests/unit/test_public_surface.py keeps
# this exact); the rest is internal.
__all__ = [
    "cli",
    "clock",
    "env_settings",
    "errors",
    "healthcheck",
    "kafka",
    "logs",
    "models",
    "reachability",
    "retry",
    "settings",
]
