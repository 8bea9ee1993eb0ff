-- 1-minute OHLC of the live stream, merged from rollup_ohlc_minute (never scans raw ticks).
CREATE VIEW IF NOT EXISTS crypto.ohlc_minute_live AS
SELECT
    code,
    minute,
    argMaxMerge(open) AS open,  -- the first tick: an argMax over the negated time (002)
    max(high) AS high,
    min(low) AS low,
    argMaxMerge(close) AS close,
    argMaxMerge(volume_24h) AS volume_24h,
    groupBitmapMerge(tick_offsets) AS tick_count
FROM crypto.rollup_ohlc_minute
GROUP BY code, minute;
