-- Moves valid history points from the Kafka table into coins_history, converting epoch milliseconds explicitly.
CREATE MATERIALIZED VIEW IF NOT EXISTS crypto.mv_coins_history TO crypto.coins_history AS
SELECT
    code,
    fromUnixTimestamp64Milli(timestamp_ms, 'UTC') AS ts,
    source,
    currency,
    schema_version,
    assumeNotNull(rate) AS rate,
    volume,
    cap,
    liquidity,
    _partition AS kafka_partition,
    _offset AS kafka_offset,
    now64(3, 'UTC') AS ingested_at
FROM crypto.kafka_coins_historical AS message
-- qualified names: the SELECT aliases (rate, tick_count) shadow the raw columns; the rule is 001's
WHERE message._error = '' AND crypto_ingest_rejection(message.code, message.timestamp_ms, ['rate'], [message.rate], 1) = '';
