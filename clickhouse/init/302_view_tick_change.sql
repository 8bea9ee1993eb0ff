-- Percent change of each live tick of the last 24 h versus the previous tick of the same coin (looked up within the last 48 h).
CREATE VIEW IF NOT EXISTS crypto.tick_change AS
SELECT
    code,
    ts,
    rate,
    if(position = 1, NULL, previous_ts_or_default) AS previous_ts,
    if(position = 1, NULL, previous_rate_or_default) AS previous_rate,
    if(position = 1 OR NOT (previous_rate_or_default > 0 AND isFinite(rate / previous_rate_or_default)), NULL,
       (rate / previous_rate_or_default - 1) * 100) AS change_pct
FROM
(
    SELECT
        code,
        ts,
        rate,
        lagInFrame(ts) OVER by_time AS previous_ts_or_default,
        lagInFrame(rate) OVER by_time AS previous_rate_or_default,
        row_number() OVER by_time AS position
    FROM
    (
        -- one row per tick even before ReplacingMergeTree has merged duplicates; a tick re-sent with
        -- another price is the highest one, as in coins_ticks after merges
        SELECT code, ts, max(rate) AS rate
        FROM crypto.coins_ticks AS tick
        -- qualified: the alias rate shadows the column; stored non-prices are not ticks
        WHERE tick.ts >= now64(3, 'UTC') - INTERVAL 48 HOUR AND tick.rate > 0 AND isFinite(tick.rate)
        GROUP BY code, ts
    )
    WINDOW by_time AS (PARTITION BY code ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)
)
WHERE ts >= now64(3, 'UTC') - INTERVAL 24 HOUR;
