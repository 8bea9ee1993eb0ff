-- Snapshot of the view portfolio_returns_daily (daily value, time-weighted return, growth index and drawdown per portfolio) for the dashboards, same columns; rewritten every minute by refresh_portfolio_returns_daily.
CREATE TABLE IF NOT EXISTS crypto.portfolio_returns_daily_snapshot
(
    portfolio        LowCardinality(String),
    day              Date,
    value            Nullable(Float64),
    net_flow         Nullable(Float64),
    previous_day     Nullable(Date),
    return_pct       Nullable(Float64),
    log_return       Nullable(Float64),
    growth_index     Nullable(Float64),
    drawdown_pct     Nullable(Float64),
    max_drawdown_pct Nullable(Float64)
)
ENGINE = MergeTree
ORDER BY (portfolio, day);
