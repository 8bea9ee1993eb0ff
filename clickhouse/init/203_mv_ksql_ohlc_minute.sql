-- Moves every valid ksqlDB OHLC update into ksql_ohlc_minute; readers keep the update with the highest tick_count per window.
CREATE MATERIALIZED VIEW IF NOT EXISTS crypto.mv_ksql_ohlc_minute TO crypto.ksql_ohlc_minute AS
WITH crypto_parse_coins_ohlc_minute(message) AS m
SELECT
    m.code AS code,
    fromUnixTimestamp64Milli(m.window_start_ms, 'UTC') AS window_start,
    fromUnixTimestamp64Milli(m.window_end_ms, 'UTC') AS window_end,
    m.open AS open,
    m.high AS high,
    m.low AS low,
    m.close AS close,
    toUInt64(m.tick_count) AS tick_count,
    _partition AS kafka_partition,
    _offset AS kafka_offset,
    now64(3, 'UTC') AS ingested_at
FROM crypto.kafka_coins_ohlc_minute
-- m: the message's fields, read from its text as it arrived (19x); the rule is 001's
WHERE _error = ''
    AND crypto_ingest_rejection(m.code, m.window_start_ms, ['open', 'high', 'low', 'close'], [m.open, m.high, m.low, m.close], m.tick_count) = '';
