-- Routes messages of topic coins_historical that could not be parsed (_error) or lack required fields into ingest_errors, so ingestion never stops on a bad message.
CREATE MATERIALIZED VIEW IF NOT EXISTS crypto.mv_errors_coins_historical TO crypto.ingest_errors AS
SELECT
    now64(3, 'UTC') AS received_at,
    _topic AS topic,
    _partition AS kafka_partition,
    _offset AS kafka_offset,
    _key AS kafka_key,
    if(_error != '', _error, 'rejected: code, timestamp_ms and a finite rate are required') AS error,
    if(_error != '', _raw_message, formatRowNoNewline('JSONEachRow', code, timestamp_ms, rate)) AS raw_message
FROM crypto.kafka_coins_historical
WHERE _error != '' OR NOT (code != '' AND timestamp_ms > 0 AND rate IS NOT NULL AND isFinite(rate));
