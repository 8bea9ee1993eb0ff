-- Ingestion freshness per dataset and coin: source and time of the last tick, its age in seconds, rows in the last hour (live: ticks of that source stamped in the last hour; history: points received in the last hour).
CREATE VIEW IF NOT EXISTS crypto.ingestion_health AS
SELECT
    'live' AS dataset,
    code,
    latest.1 AS source,
    last_tick_at,
    dateDiff('millisecond', last_tick_at, now64(3, 'UTC')) / 1000 AS age_seconds,
    latest.2 AS rows_last_hour
FROM
(
    SELECT
        code,
        argMax((source, ticks_last_hour), last_tick_of_source) AS latest,
        max(last_tick_of_source) AS last_tick_at
    FROM
    (
        SELECT
            code,
            source,
            max(ts) AS last_tick_of_source,
            uniqExactIf(ts, ts >= now64(3, 'UTC') - INTERVAL 1 HOUR) AS ticks_last_hour
        FROM crypto.coins_ticks
        -- one pass over the last hour, or further back to the stalest coin's last tick, which the
        -- rollup knows: the primary key and the monthly partitions bound the scan to those ticks
        WHERE ts >= least(
            now64(3, 'UTC') - INTERVAL 1 HOUR,
            (
                SELECT min(last_tick_of_coin)
                FROM (SELECT max(last_tick_at) AS last_tick_of_coin FROM crypto.rollup_ohlc_day GROUP BY code)
            )
        )
        GROUP BY code, source
    )
    GROUP BY code
)
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
