-- Every minute, recomputes the view rsi_daily and atomically replaces the contents of rsi_daily_snapshot with the result.
CREATE MATERIALIZED VIEW IF NOT EXISTS crypto.refresh_rsi_daily
REFRESH EVERY 1 MINUTE
TO crypto.rsi_daily_snapshot
AS SELECT code, day, close, avg_gain_14, avg_loss_14, rsi_14
FROM crypto.rsi_daily;
