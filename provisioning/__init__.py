"""Provisioning of the Docker-only services: the ksqlDB applier and the Metabase provisioner."""

# The modules code outside this package imports (tests/unit/test_public_surface.py keeps
# this exact); the rest is internal.
__all__: list[str] = []  # console scripts only (pyproject.toml)
