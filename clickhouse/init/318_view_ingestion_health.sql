-- Ingestion freshness per dataset and coin: source and time of the last tick, its age in seconds, rows in the last hour (live: ticks of that source stamped in the last hour; history: points received in the last hour).
CREATE VIEW IF NOT EXISTS crypto.ingestion_health AS
SELECT
    'live' AS dataset,
    latest.code AS code,
    latest.source AS source,
    latest.last_tick_at AS last_tick_at,
    dateDiff('millisecond', latest.last_tick_at, now64(3, 'UTC')) / 1000 AS age_seconds,
    ifNull(recent.rows_last_hour, 0) AS rows_last_hour
FROM
(
    -- the rollup knows each coin's last tick time; a primary-key lookup fetches that one row
    SELECT code, argMax(source, ts) AS source, max(ts) AS last_tick_at
    FROM crypto.coins_ticks
    WHERE (code, ts) IN (SELECT code, max(last_tick_at) FROM crypto.rollup_ohlc_day GROUP BY code)
    GROUP BY code
) AS latest
LEFT JOIN
(
    SELECT code, source, uniqExact(ts) AS rows_last_hour
    FROM crypto.coins_ticks
    WHERE ts >= now64(3, 'UTC') - INTERVAL 1 HOUR
    GROUP BY code, source
) AS recent ON recent.code = latest.code AND recent.source = latest.source
UNION ALL
SELECT
    'history' AS dataset,
    code,
    source,
    max(ts) AS last_tick_at,
    dateDiff('millisecond', max(ts), now64(3, 'UTC')) / 1000 AS age_seconds,
    uniqExactIf(ts, ingested_at >= now64(3, 'UTC') - INTERVAL 1 HOUR) AS rows_last_hour
FROM crypto.coins_history
GROUP BY code, source;
