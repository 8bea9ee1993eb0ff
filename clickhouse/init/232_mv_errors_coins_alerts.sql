-- Routes messages of topic coins_alerts that could not be parsed (_error) or lack required fields into ingest_errors, so ingestion never stops on a bad message.
CREATE MATERIALIZED VIEW IF NOT EXISTS crypto.mv_errors_coins_alerts TO crypto.ingest_errors AS
SELECT
    now64(3, 'UTC') AS received_at,
    _topic AS topic,
    _partition AS kafka_partition,
    _offset AS kafka_offset,
    _key AS kafka_key,
    if(_error != '', _error, 'rejected: alert_id, rule_id and event_time_ms are required') AS error,
    if(_error != '', _raw_message, formatRowNoNewline('JSONEachRow', alert_id, rule_id, event_time_ms)) AS raw_message
FROM crypto.kafka_coins_alerts
WHERE _error != '' OR NOT (alert_id != '' AND rule_id != '' AND event_time_ms > 0);
