-- Snapshot of the view bollinger_daily (Bollinger bands (20, 2)) for the dashboards, same columns; rewritten every minute by refresh_bollinger_daily.
CREATE TABLE IF NOT EXISTS crypto.bollinger_daily_snapshot
(
    code           LowCardinality(String),
    day            Date,
    close          Float64,
    middle_20      Nullable(Float64),
    stddev_20      Nullable(Float64),
    upper_20       Nullable(Float64),
    lower_20       Nullable(Float64),
    days_in_window UInt64
)
ENGINE = MergeTree
ORDER BY (code, day);
