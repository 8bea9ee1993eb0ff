-- Messages the pipeline rejected (unparsable JSON or missing required fields), with topic, offset and raw text; kept 30 days.
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
ENGINE = MergeTree
PARTITION BY toYYYYMMDD(received_at)
ORDER BY (topic, received_at)
TTL toDateTime(received_at) + INTERVAL 30 DAY;
