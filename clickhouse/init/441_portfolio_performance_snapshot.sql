-- Snapshot of the view portfolio_performance (time-weighted returns, volatility and maximum drawdown per portfolio) for the dashboards, same columns; rewritten every minute by refresh_portfolio_performance.
CREATE TABLE IF NOT EXISTS crypto.portfolio_performance_snapshot
(
    portfolio                  LowCardinality(String),
    first_day                  Date,
    latest_day                 Date,
    latest_value               Nullable(Float64),
    twr_7d_pct                 Nullable(Float64),
    twr_30d_pct                Nullable(Float64),
    twr_90d_pct                Nullable(Float64),
    twr_ytd_pct                Nullable(Float64),
    twr_since_start_pct        Nullable(Float64),
    volatility_30d_pct         Nullable(Float64),
    volatility_90d_pct         Nullable(Float64),
    volatility_since_start_pct Nullable(Float64),
    max_drawdown_pct           Nullable(Float64)
)
ENGINE = MergeTree
ORDER BY portfolio;
