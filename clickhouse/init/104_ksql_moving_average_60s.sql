-- Every ksqlDB update of a 60 s hopping-average window; ReplacingMergeTree(tick_count) keeps the most complete update of each (code, window_start).
CREATE TABLE IF NOT EXISTS crypto.ksql_moving_average_60s
(
    code LowCardinality(String),
    window_start DateTime64(3, 'UTC'),
    window_end DateTime64(3, 'UTC'),
    moving_average Float64,
    tick_count UInt64,
    kafka_partition UInt64,
    kafka_offset UInt64,
    ingested_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(tick_count)
PARTITION BY toYYYYMM(window_start)
ORDER BY (code, window_start);
