-- Every minute, recomputes the view portfolio_returns_daily and atomically replaces the contents of portfolio_returns_daily_snapshot with the result.
CREATE MATERIALIZED VIEW IF NOT EXISTS crypto.refresh_portfolio_returns_daily
REFRESH EVERY 1 MINUTE
TO crypto.portfolio_returns_daily_snapshot
AS SELECT portfolio, day, value, net_flow, previous_day, return_pct, log_return, growth_index, drawdown_pct, max_drawdown_pct
FROM crypto.portfolio_returns_daily;
