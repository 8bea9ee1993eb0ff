-- Every minute, recomputes the view moving_averages_daily and atomically replaces the contents of moving_averages_daily_snapshot with the result.
CREATE MATERIALIZED VIEW IF NOT EXISTS crypto.refresh_moving_averages_daily
REFRESH EVERY 1 MINUTE
TO crypto.moving_averages_daily_snapshot
AS SELECT code, day, close, sma_10, sma_30, sma_50, sma_200, days_in_sma_10, days_in_sma_30, days_in_sma_50, days_in_sma_200
FROM crypto.moving_averages_daily;
