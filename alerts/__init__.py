"""Alerts: rules as code, evaluated on the Kafka stream and on ClickHouse, delivered to webhooks."""
