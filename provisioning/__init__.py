"""Provisioning of the Docker-only services: the ksqlDB applier and the Metabase provisioner."""
