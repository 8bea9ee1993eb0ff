-- Routes messages of topic coins_moving_average_60s that could not be parsed (_error) or break the ingest rule (001) into ingest_errors, so ingestion never stops on a bad message.
CREATE MATERIALIZED VIEW IF NOT EXISTS crypto.mv_errors_coins_moving_average_60s TO crypto.ingest_errors AS
WITH crypto_ingest_rejection(code, window_start_ms, ['moving_average'], [moving_average], tick_count) AS rejection
SELECT
    now64(3, 'UTC') AS received_at,
    _topic AS topic,
    _partition AS kafka_partition,
    _offset AS kafka_offset,
    _key AS kafka_key,
    if(_error != '', _error, rejection) AS error,
    -- The engine keeps the bytes only of a message it could not parse (_raw_message, KafkaSource.cpp);
    -- a parsed row is written back as JSON with nan/inf quoted, so NaN, ±Infinity and null differ.
    if(_error != '', _raw_message, formatRowNoNewline('JSONEachRow', *)) AS raw_message
FROM crypto.kafka_coins_moving_average_60s
WHERE _error != '' OR rejection != ''
SETTINGS output_format_json_quote_denormals = 1;
