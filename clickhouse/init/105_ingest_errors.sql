-- Messages the pipeline rejected (unparsable, or breaking the ingest rule of 001) with the reason and the message; one row per Kafka message (topic, partition, offset), so a redelivery collapses; kept 30 days.
CREATE TABLE IF NOT EXISTS crypto.ingest_errors
(
    received_at DateTime64(3, 'UTC'),
    topic LowCardinality(String),
    kafka_partition UInt64,
    kafka_offset UInt64,
    kafka_key String,
    error String,
    raw_message String
)
-- The engine re-reads a whole block after a failure (at-least-once): the same message arrives again
-- with a later received_at and replaces the first one on merge; readers count distinct offsets.
-- Not partitioned: a replacement only happens within one partition, and a redelivery may cross days.
ENGINE = ReplacingMergeTree(received_at)
ORDER BY (topic, kafka_partition, kafka_offset)
TTL toDateTime(received_at) + INTERVAL 30 DAY;
