-- Snapshot of the view risk_daily (daily risk (log return, 30-day volatility, drawdown)) for the dashboards, same columns; rewritten every minute by refresh_risk_daily.
CREATE TABLE IF NOT EXISTS crypto.risk_daily_snapshot
(
    code               LowCardinality(String),
    day                Date,
    close              Float64,
    log_return         Nullable(Float64),
    volatility_30d_pct Nullable(Float64),
    returns_in_window  UInt64,
    running_high       Float64,
    drawdown_pct       Nullable(Float64),
    max_drawdown_pct   Nullable(Float64)
)
ENGINE = MergeTree
ORDER BY (code, day);
