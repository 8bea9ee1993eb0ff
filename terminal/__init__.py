"""`coins top` (live terminal dashboard) and `coins sql`, on a ClickHouse server or embedded."""

# The modules code outside this package imports (tests/unit/test_public_surface.py keeps
# this exact); the rest is internal.
__all__ = ["app", "cli", "credits", "store"]
