-- Every minute, recomputes the view change_latest and atomically replaces the contents of change_latest_snapshot with the result.
CREATE MATERIALIZED VIEW IF NOT EXISTS crypto.refresh_change_latest
REFRESH EVERY 1 MINUTE
TO crypto.change_latest_snapshot
AS SELECT code, day, close, close_1d_ago, close_7d_ago, change_1d_pct, change_7d_pct
FROM crypto.change_latest;
