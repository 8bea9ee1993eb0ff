-- Snapshot of the view portfolio_correlation (correlation matrix of the held coins' daily log returns) for the dashboards, same columns; rewritten every minute by refresh_portfolio_correlation.
CREATE TABLE IF NOT EXISTS crypto.portfolio_correlation_snapshot
(
    portfolio      LowCardinality(String),
    window_days    UInt8,
    code_a         String,
    code_b         String,
    latest_day     Date,
    days_in_window UInt64,
    correlation    Nullable(Float64)
)
ENGINE = MergeTree
ORDER BY (portfolio, window_days, code_a, code_b);
