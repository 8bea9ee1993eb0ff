"""Metabase as code: the provisioner, the dashboard exporter and the definition-file model."""
