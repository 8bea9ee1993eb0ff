-- Maintains rollup_ohlc_minute from every stored live tick; the tick count is a bitmap of millisecond offsets, so a duplicated tick is counted once.
CREATE MATERIALIZED VIEW IF NOT EXISTS crypto.mv_rollup_ohlc_minute TO crypto.rollup_ohlc_minute AS
SELECT
    code,
    toStartOfMinute(ts) AS minute,
    -- first and last tick by crypto_tick_order (002): at a shared ts the highest rate is the tick,
    -- as in coins_ticks; open is an argMax too, over the negated time
    argMaxState(rate, crypto_tick_order(-toUnixTimestamp64Milli(ts), rate)) AS open,
    argMaxState(rate, crypto_tick_order(toUnixTimestamp64Milli(ts), rate)) AS close,
    max(rate) AS high,
    min(rate) AS low,
    argMaxState(volume, crypto_tick_order(toUnixTimestamp64Milli(ts), rate)) AS volume_24h,
    groupBitmapState(toUInt32(toUnixTimestamp64Milli(ts) % 60000)) AS tick_offsets
FROM crypto.coins_ticks
-- the Kafka path stores only finite rates > 0 (001); a row inserted otherwise is not a price
WHERE rate > 0 AND isFinite(rate)
GROUP BY code, minute;
