-- Routes messages of topic coins_ohlc_minute that could not be parsed (_error) or lack required fields into ingest_errors, so ingestion never stops on a bad message.
CREATE MATERIALIZED VIEW IF NOT EXISTS crypto.mv_errors_coins_ohlc_minute TO crypto.ingest_errors AS
SELECT
    now64(3, 'UTC') AS received_at,
    _topic AS topic,
    _partition AS kafka_partition,
    _offset AS kafka_offset,
    _key AS kafka_key,
    if(_error != '', _error, 'rejected: code, window_start_ms and a positive tick_count are required') AS error,
    if(_error != '', _raw_message, formatRowNoNewline('JSONEachRow', code, window_start_ms, tick_count)) AS raw_message
FROM crypto.kafka_coins_ohlc_minute
WHERE _error != '' OR NOT (code != '' AND window_start_ms > 0 AND tick_count > 0);
