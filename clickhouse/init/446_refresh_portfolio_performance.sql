-- Every minute, recomputes the view portfolio_performance and atomically replaces the contents of portfolio_performance_snapshot with the result, after refresh_portfolio_transactions_priced has refreshed the priced transactions its view reads (DEPENDS ON).
CREATE MATERIALIZED VIEW IF NOT EXISTS crypto.refresh_portfolio_performance
REFRESH EVERY 1 MINUTE
DEPENDS ON crypto.refresh_portfolio_transactions_priced
TO crypto.portfolio_performance_snapshot
AS SELECT portfolio, first_day, latest_day, latest_value, twr_7d_pct, twr_30d_pct, twr_90d_pct, twr_ytd_pct, twr_since_start_pct, volatility_30d_pct, volatility_90d_pct, volatility_since_start_pct, max_drawdown_pct
FROM crypto.portfolio_performance;
