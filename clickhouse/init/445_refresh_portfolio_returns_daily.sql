-- Every minute, recomputes the view portfolio_returns_daily and atomically replaces the contents of portfolio_returns_daily_snapshot with the result, after refresh_portfolio_transactions_priced has refreshed the priced transactions its view reads (DEPENDS ON).
CREATE MATERIALIZED VIEW IF NOT EXISTS crypto.refresh_portfolio_returns_daily
REFRESH EVERY 1 MINUTE
DEPENDS ON crypto.refresh_portfolio_transactions_priced
TO crypto.portfolio_returns_daily_snapshot
AS SELECT portfolio, day, value, net_flow, previous_day, return_pct, log_return, growth_index, drawdown_pct, max_drawdown_pct
FROM crypto.portfolio_returns_daily;
