-- Every minute, recomputes the view coin_sparkline_24h and atomically replaces the contents of coin_sparkline_24h_snapshot with the result.
CREATE MATERIALIZED VIEW IF NOT EXISTS crypto.refresh_coin_sparkline_24h
REFRESH EVERY 1 MINUTE
TO crypto.coin_sparkline_24h_snapshot
AS SELECT code, closes
FROM crypto.coin_sparkline_24h;
