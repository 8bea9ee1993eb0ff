-- Every minute, recomputes the view bollinger_daily and atomically replaces the contents of bollinger_daily_snapshot with the result.
CREATE MATERIALIZED VIEW IF NOT EXISTS crypto.refresh_bollinger_daily
REFRESH EVERY 1 MINUTE
TO crypto.bollinger_daily_snapshot
AS SELECT code, day, close, middle_20, stddev_20, upper_20, lower_20, days_in_window
FROM crypto.bollinger_daily;
