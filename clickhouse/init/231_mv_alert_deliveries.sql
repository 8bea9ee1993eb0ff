-- Moves valid delivery outcomes from the Kafka table into alert_deliveries.
CREATE MATERIALIZED VIEW IF NOT EXISTS crypto.mv_alert_deliveries TO crypto.alert_deliveries AS
SELECT
    alert_id,
    webhook,
    rule_id,
    coin,
    webhook_kind,
    status,
    attempts,
    http_status,
    reason,
    fromUnixTimestamp64Milli(event_time_ms, 'UTC') AS event_time,
    fromUnixTimestamp64Milli(finished_at_ms, 'UTC') AS finished_at,
    _partition AS kafka_partition,
    _offset AS kafka_offset
FROM crypto.kafka_coins_alerts_deliveries AS message
WHERE message._error = '' AND message.alert_id != '' AND message.webhook != '' AND message.finished_at_ms > 0;
