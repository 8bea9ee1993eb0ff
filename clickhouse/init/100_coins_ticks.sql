-- Live ticks from coins_current_full, one row per (code, ts): replays and at-least-once duplicates collapse on merge; the same tick re-sent with another price keeps the highest rate, the rule every reader applies too.
CREATE TABLE IF NOT EXISTS crypto.coins_ticks
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
    delta_hour Nullable(Float64),
    delta_day Nullable(Float64),
    delta_week Nullable(Float64),
    delta_month Nullable(Float64),
    delta_quarter Nullable(Float64),
    delta_year Nullable(Float64),
    name Nullable(String),
    symbol Nullable(String),
    rank Nullable(UInt32),
    age Nullable(UInt32),
    color Nullable(String),
    png32 Nullable(String),
    png64 Nullable(String),
    webp32 Nullable(String),
    webp64 Nullable(String),
    exchanges Nullable(UInt32),
    markets Nullable(UInt32),
    pairs Nullable(UInt32),
    all_time_high_usd Nullable(Float64),
    circulating_supply Nullable(Float64),
    total_supply Nullable(Float64),
    max_supply Nullable(Float64),
    categories Array(LowCardinality(String)),
    kafka_partition UInt64,
    kafka_offset UInt64,
    ingested_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(rate)
PARTITION BY toYYYYMM(ts)
ORDER BY (code, ts);
