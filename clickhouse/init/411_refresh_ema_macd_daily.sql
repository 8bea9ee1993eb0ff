-- Every minute, recomputes the view ema_macd_daily and atomically replaces the contents of ema_macd_daily_snapshot with the result.
CREATE MATERIALIZED VIEW IF NOT EXISTS crypto.refresh_ema_macd_daily
REFRESH EVERY 1 MINUTE
TO crypto.ema_macd_daily_snapshot
AS SELECT code, day, close, ema_12, ema_26, macd, macd_signal, macd_histogram
FROM crypto.ema_macd_daily;
