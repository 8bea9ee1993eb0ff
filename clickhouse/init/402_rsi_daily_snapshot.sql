-- Snapshot of the view rsi_daily (RSI 14) for the dashboards, same columns; rewritten every minute by refresh_rsi_daily.
CREATE TABLE IF NOT EXISTS crypto.rsi_daily_snapshot
(
    code        LowCardinality(String),
    day         Date,
    close       Float64,
    avg_gain_14 Nullable(Float64),
    avg_loss_14 Nullable(Float64),
    rsi_14      Nullable(Float64)
)
ENGINE = MergeTree
ORDER BY (code, day);
