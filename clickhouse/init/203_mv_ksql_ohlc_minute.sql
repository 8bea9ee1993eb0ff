-- Moves every valid ksqlDB OHLC update into ksql_ohlc_minute; readers keep the update with the highest tick_count per window.
CREATE MATERIALIZED VIEW IF NOT EXISTS crypto.mv_ksql_ohlc_minute TO crypto.ksql_ohlc_minute AS
SELECT
    code,
    fromUnixTimestamp64Milli(window_start_ms, 'UTC') AS window_start,
    fromUnixTimestamp64Milli(window_end_ms, 'UTC') AS window_end,
    open,
    high,
    low,
    close,
    toUInt64(tick_count) AS tick_count,
    _partition AS kafka_partition,
    _offset AS kafka_offset,
    now64(3, 'UTC') AS ingested_at
FROM crypto.kafka_coins_ohlc_minute AS message
-- qualified names: the SELECT aliases (rate, tick_count) shadow the raw columns; the rule is 001's
WHERE message._error = ''
    AND crypto_ingest_rejection(message.code, message.window_start_ms, ['open', 'high', 'low', 'close'], [message.open, message.high, message.low, message.close], message.tick_count) = '';
