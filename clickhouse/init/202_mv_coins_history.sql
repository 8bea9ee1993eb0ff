-- Moves valid history points from the Kafka table into coins_history, converting epoch milliseconds explicitly.
CREATE MATERIALIZED VIEW IF NOT EXISTS crypto.mv_coins_history TO crypto.coins_history AS
WITH crypto_parse_coins_historical(message) AS m
SELECT
    m.code AS code,
    fromUnixTimestamp64Milli(m.timestamp_ms, 'UTC') AS ts,
    m.source AS source,
    m.currency AS currency,
    m.schema_version AS schema_version,
    assumeNotNull(m.rate) AS rate,
    m.volume AS volume,
    m.cap AS cap,
    m.liquidity AS liquidity,
    _partition AS kafka_partition,
    _offset AS kafka_offset,
    now64(3, 'UTC') AS ingested_at
FROM crypto.kafka_coins_historical
-- m: the message's fields, read from its text as it arrived (19x); the rule is 001's
WHERE _error = '' AND crypto_ingest_rejection(m.code, m.timestamp_ms, ['rate'], [m.rate], 1) = '';
