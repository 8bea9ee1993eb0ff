-- History points from coins_historical (backfill), one row per (code, ts) after merges; reruns of the backfill never double-count, and a point re-sent with another price keeps the highest rate (the readers' rule too).
CREATE TABLE IF NOT EXISTS crypto.coins_history
(
    code LowCardinality(String),
    ts DateTime64(3, 'UTC'),
    source LowCardinality(String),
    currency LowCardinality(String),
    schema_version UInt16,
    rate Float64,
    volume Nullable(Float64),
    cap Nullable(Float64),
    liquidity Nullable(Float64),
    kafka_partition UInt64,
    kafka_offset UInt64,
    ingested_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(rate)
PARTITION BY toYear(ts)
ORDER BY (code, ts);
