"""Metabase as code: the provisioner, the dashboard exporter and the definition-file model."""

# The modules code outside this package imports (tests/unit/test_public_surface.py keeps
# this exact); the rest is internal.
__all__ = ["client", "definitions", "errors", "provisioner", "settings"]
