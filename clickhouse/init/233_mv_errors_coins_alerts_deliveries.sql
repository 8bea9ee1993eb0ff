-- Routes messages of topic coins_alerts_deliveries that could not be parsed (_error) or lack required fields into ingest_errors.
CREATE MATERIALIZED VIEW IF NOT EXISTS crypto.mv_errors_coins_alerts_deliveries TO crypto.ingest_errors AS
SELECT
    now64(3, 'UTC') AS received_at,
    _topic AS topic,
    _partition AS kafka_partition,
    _offset AS kafka_offset,
    _key AS kafka_key,
    if(_error != '', _error, 'rejected: alert_id, webhook and finished_at_ms are required') AS error,
    if(_error != '', _raw_message, formatRowNoNewline('JSONEachRow', alert_id, webhook, finished_at_ms)) AS raw_message
FROM crypto.kafka_coins_alerts_deliveries
WHERE _error != '' OR NOT (alert_id != '' AND webhook != '' AND finished_at_ms > 0);
