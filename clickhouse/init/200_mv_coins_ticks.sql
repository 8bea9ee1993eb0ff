-- Moves valid live ticks from the Kafka table into coins_ticks, converting epoch milliseconds explicitly (an integer in a DateTime64 column would be read as seconds).
CREATE MATERIALIZED VIEW IF NOT EXISTS crypto.mv_coins_ticks TO crypto.coins_ticks AS
WITH crypto_parse_coins_current_full(message) AS m
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
    m.delta_hour AS delta_hour,
    m.delta_day AS delta_day,
    m.delta_week AS delta_week,
    m.delta_month AS delta_month,
    m.delta_quarter AS delta_quarter,
    m.delta_year AS delta_year,
    m.name AS name,
    m.symbol AS symbol,
    m.rank AS rank,
    m.age AS age,
    m.color AS color,
    m.png32 AS png32,
    m.png64 AS png64,
    m.webp32 AS webp32,
    m.webp64 AS webp64,
    m.exchanges AS exchanges,
    m.markets AS markets,
    m.pairs AS pairs,
    m.all_time_high_usd AS all_time_high_usd,
    m.circulating_supply AS circulating_supply,
    m.total_supply AS total_supply,
    m.max_supply AS max_supply,
    m.categories AS categories,
    _partition AS kafka_partition,
    _offset AS kafka_offset,
    now64(3, 'UTC') AS ingested_at
FROM crypto.kafka_coins_current_full
-- m: the message's fields, read from its text as it arrived (19x); the rule is 001's
WHERE _error = '' AND crypto_ingest_rejection(m.code, m.timestamp_ms, ['rate'], [m.rate], 1) = '';
