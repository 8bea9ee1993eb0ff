"""Where prices come from: the LiveCoinWatch API (current prices and history) or the demo walk."""

# The modules code outside this package imports (tests/unit/test_public_surface.py keeps
# this exact); the rest is internal.
__all__ = ["current", "demo", "history", "livecoinwatch"]
