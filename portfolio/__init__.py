"""Portfolio: transactions as code (YAML), validated, published to a compacted Kafka topic."""
