-- Every minute, recomputes the view risk_daily and atomically replaces the contents of risk_daily_snapshot with the result.
CREATE MATERIALIZED VIEW IF NOT EXISTS crypto.refresh_risk_daily
REFRESH EVERY 1 MINUTE
TO crypto.risk_daily_snapshot
AS SELECT code, day, close, log_return, volatility_30d_pct, returns_in_window, running_high, drawdown_pct, max_drawdown_pct
FROM crypto.risk_daily;
