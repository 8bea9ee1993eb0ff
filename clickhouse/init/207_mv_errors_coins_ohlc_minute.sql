-- Routes messages of topic coins_ohlc_minute that could not be read or break the ingest rule (001) into ingest_errors, with the message
-- exactly as it arrived: the Kafka table keeps every message's text (JSONAsString), and the engine's _raw_message holds the bytes of
-- one it could not even frame as JSON (it fills _raw_message only on a parse error: src/Storages/Kafka/KafkaSource.cpp).
CREATE MATERIALIZED VIEW IF NOT EXISTS crypto.mv_errors_coins_ohlc_minute TO crypto.ingest_errors AS
WITH
    crypto_parse_coins_ohlc_minute(message) AS m,
    crypto_message_error(_error, message, crypto_ingest_rejection(m.code, m.window_start_ms, ['open', 'high', 'low', 'close'], [m.open, m.high, m.low, m.close], m.tick_count)) AS error_text
SELECT
    now64(3, 'UTC') AS received_at,
    _topic AS topic,
    _partition AS kafka_partition,
    _offset AS kafka_offset,
    _key AS kafka_key,
    error_text AS error,
    if(_error != '', _raw_message, message) AS raw_message
FROM crypto.kafka_coins_ohlc_minute
WHERE error_text != '';
