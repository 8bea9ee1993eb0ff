-- Snapshot of the view coin_sparkline_24h (each coin's 24 h sparkline of quarter-hour closes) for `coins top`, same columns; rewritten every minute by refresh_coin_sparkline_24h.
CREATE TABLE IF NOT EXISTS crypto.coin_sparkline_24h_snapshot
(
    code   LowCardinality(String),
    closes Array(Float64)
)
ENGINE = MergeTree
ORDER BY code;
