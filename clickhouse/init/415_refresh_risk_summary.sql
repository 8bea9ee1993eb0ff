-- Every minute, recomputes the view risk_summary and atomically replaces the contents of risk_summary_snapshot with the result.
CREATE MATERIALIZED VIEW IF NOT EXISTS crypto.refresh_risk_summary
REFRESH EVERY 1 MINUTE
TO crypto.risk_summary_snapshot
AS SELECT code, day, close, volatility_30d_pct, running_high, current_drawdown_pct, max_drawdown_pct
FROM crypto.risk_summary;
