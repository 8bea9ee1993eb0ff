-- Daily history from the backfill: the 12:00 UTC close (last point at or before 12:00:00 UTC of the day; the highest rate at the same ts) with its volume and cap, plus the day's range.
CREATE VIEW IF NOT EXISTS crypto.history_daily AS
SELECT
    code,
    toDate(ts) AS day,
    if(countIf(is_close_candidate) = 0, NULL, argMaxIf(rate, crypto_tick_order(toUnixTimestamp64Milli(ts), rate), is_close_candidate)) AS close,
    if(countIf(is_close_candidate) = 0, NULL, maxIf(ts, is_close_candidate)) AS close_ts,
    if(countIf(is_close_candidate) = 0, NULL, argMaxIf(volume, crypto_tick_order(toUnixTimestamp64Milli(ts), rate), is_close_candidate)) AS volume_24h,
    if(countIf(is_close_candidate) = 0, NULL, argMaxIf(cap, crypto_tick_order(toUnixTimestamp64Milli(ts), rate), is_close_candidate)) AS cap,
    min(rate) AS low,
    max(rate) AS high,
    uniqExact(ts) AS points
FROM
(
    SELECT code, ts, rate, volume, cap, toUnixTimestamp64Milli(ts) % 86400000 <= 43200000 AS is_close_candidate
    FROM crypto.coins_history
    -- ingestion stores only finite rates > 0 (001); rows stored otherwise are not prices
    WHERE rate > 0 AND isFinite(rate)
)
GROUP BY code, day;
