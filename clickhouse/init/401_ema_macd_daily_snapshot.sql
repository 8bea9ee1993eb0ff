-- Snapshot of the view ema_macd_daily (EMA 12/26 and MACD (12, 26, 9)) for the dashboards, same columns; rewritten every minute by refresh_ema_macd_daily.
CREATE TABLE IF NOT EXISTS crypto.ema_macd_daily_snapshot
(
    code           LowCardinality(String),
    day            Date,
    close          Float64,
    ema_12         Nullable(Float64),
    ema_26         Nullable(Float64),
    macd           Nullable(Float64),
    macd_signal    Nullable(Float64),
    macd_histogram Nullable(Float64)
)
ENGINE = MergeTree
ORDER BY (code, day);
