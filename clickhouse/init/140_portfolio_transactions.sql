-- Every published version of every portfolio transaction; one row per (portfolio, transaction_id) after merges, the highest version_ms wins and deleted = 1 marks a removed line (readers use portfolio_transactions_current).
CREATE TABLE IF NOT EXISTS crypto.portfolio_transactions
(
    portfolio LowCardinality(String),
    transaction_id String,
    kind LowCardinality(String),
    code LowCardinality(String),
    currency LowCardinality(String),
    ts DateTime64(3, 'UTC'),
    quantity Decimal(38, 18),
    price Nullable(Float64),
    fee Float64,
    deleted UInt8,
    version_ms UInt64,
    schema_version UInt16,
    kafka_partition UInt64,
    kafka_offset UInt64,
    ingested_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(version_ms, deleted)
ORDER BY (portfolio, transaction_id);
