-- Every minute, recomputes the view performance_returns and atomically replaces the contents of performance_returns_snapshot with the result.
CREATE MATERIALIZED VIEW IF NOT EXISTS crypto.refresh_performance_returns
REFRESH EVERY 1 MINUTE
TO crypto.performance_returns_snapshot
AS SELECT code, first_day, latest_day, latest_close, return_1d_pct, return_7d_pct, return_30d_pct, return_90d_pct, return_ytd_pct, return_since_first_pct
FROM crypto.performance_returns;
