-- Moves every valid ksqlDB moving-average update into ksql_moving_average_60s; readers keep the update with the highest tick_count per window.
CREATE MATERIALIZED VIEW IF NOT EXISTS crypto.mv_ksql_moving_average_60s TO crypto.ksql_moving_average_60s AS
WITH crypto_parse_coins_moving_average_60s(message) AS m
SELECT
    m.code AS code,
    fromUnixTimestamp64Milli(m.window_start_ms, 'UTC') AS window_start,
    fromUnixTimestamp64Milli(m.window_end_ms, 'UTC') AS window_end,
    m.moving_average AS moving_average,
    toUInt64(m.tick_count) AS tick_count,
    _partition AS kafka_partition,
    _offset AS kafka_offset,
    now64(3, 'UTC') AS ingested_at
FROM crypto.kafka_coins_moving_average_60s
-- m: the message's fields, read from its text as it arrived (19x); the rule is 001's
WHERE _error = ''
    AND crypto_ingest_rejection(m.code, m.window_start_ms, ['moving_average'], [m.moving_average], m.tick_count) = '';
