-- Every minute, recomputes the view portfolio_correlation and atomically replaces the contents of portfolio_correlation_snapshot with the result.
CREATE MATERIALIZED VIEW IF NOT EXISTS crypto.refresh_portfolio_correlation
REFRESH EVERY 1 MINUTE
TO crypto.portfolio_correlation_snapshot
AS SELECT portfolio, window_days, code_a, code_b, latest_day, days_in_window, correlation
FROM crypto.portfolio_correlation;
