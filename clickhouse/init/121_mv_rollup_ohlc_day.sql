-- Maintains rollup_ohlc_day from every stored live tick, including the daily close: the last tick at or before 12:00:00.000 UTC of that day.
CREATE MATERIALIZED VIEW IF NOT EXISTS crypto.mv_rollup_ohlc_day TO crypto.rollup_ohlc_day AS
SELECT
    code,
    toDate(ts) AS day,
    -- first and last tick by crypto_tick_order (002): at a shared ts the highest rate is the tick,
    -- as in coins_ticks; open is an argMax too, over the negated time
    argMaxState(rate, crypto_tick_order(-toUnixTimestamp64Milli(ts), rate)) AS open,
    argMaxState(rate, crypto_tick_order(toUnixTimestamp64Milli(ts), rate)) AS close,
    max(rate) AS high,
    min(rate) AS low,
    argMaxState(volume, crypto_tick_order(toUnixTimestamp64Milli(ts), rate)) AS volume_24h,
    -- seconds of the day: two dense bitmap containers merge fast; the stream ticks at most every 8.64 s
    groupBitmapState(toUInt32(intDiv(toUnixTimestamp64Milli(ts) % 86400000, 1000))) AS tick_seconds,
    max(ts) AS last_tick_at,
    argMaxIfState((rate, ts), crypto_tick_order(toUnixTimestamp64Milli(ts), rate), toUnixTimestamp64Milli(ts) % 86400000 <= 43200000) AS noon_close
FROM crypto.coins_ticks
-- the Kafka path stores only finite rates > 0 (001); a row inserted otherwise is not a price
WHERE rate > 0 AND isFinite(rate)
GROUP BY code, day;
