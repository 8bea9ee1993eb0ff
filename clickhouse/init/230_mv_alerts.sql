-- Moves valid alerts from the Kafka table into alerts, converting epoch milliseconds explicitly (an integer in a DateTime64 column would be read as seconds).
CREATE MATERIALIZED VIEW IF NOT EXISTS crypto.mv_alerts TO crypto.alerts AS
SELECT
    rule_id,
    coin,
    fromUnixTimestamp64Milli(event_time_ms, 'UTC') AS event_time,
    alert_id,
    rule_kind,
    rules_version,
    fromUnixTimestamp64Milli(fired_at_ms, 'UTC') AS fired_at,
    summary,
    `values`,
    source,
    _partition AS kafka_partition,
    _offset AS kafka_offset,
    now64(3, 'UTC') AS ingested_at
FROM crypto.kafka_coins_alerts AS message
WHERE message._error = '' AND message.alert_id != '' AND message.rule_id != '' AND message.event_time_ms > 0;
