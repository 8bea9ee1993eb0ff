-- Daily (UTC midnight to midnight) OHLC of the live stream, merged from rollup_ohlc_day; volume_24h is the API's rolling 24 h volume at the last tick of the day; tick_count counts distinct seconds with a tick.
CREATE VIEW IF NOT EXISTS crypto.ohlc_daily_live AS
SELECT
    code,
    day,
    argMaxMerge(open) AS open,  -- the first tick: an argMax over the negated time (002)
    max(high) AS high,
    min(low) AS low,
    argMaxMerge(close) AS close,
    argMaxMerge(volume_24h) AS volume_24h,
    groupBitmapMerge(tick_seconds) AS tick_count
FROM crypto.rollup_ohlc_day
GROUP BY code, day;
