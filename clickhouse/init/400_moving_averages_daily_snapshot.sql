-- Snapshot of the view moving_averages_daily (SMA 10/30/50/200) for the dashboards, same columns; rewritten every minute by refresh_moving_averages_daily.
CREATE TABLE IF NOT EXISTS crypto.moving_averages_daily_snapshot
(
    code            LowCardinality(String),
    day             Date,
    close           Float64,
    sma_10          Nullable(Float64),
    sma_30          Nullable(Float64),
    sma_50          Nullable(Float64),
    sma_200         Nullable(Float64),
    days_in_sma_10  UInt64,
    days_in_sma_30  UInt64,
    days_in_sma_50  UInt64,
    days_in_sma_200 UInt64
)
ENGINE = MergeTree
ORDER BY (code, day);
