"""The Kafka side of the producers: connection options, topics, the publisher."""
