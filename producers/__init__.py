"""LiveCoinWatch (or demo) prices to Kafka."""
