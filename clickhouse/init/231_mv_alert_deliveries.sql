-- Moves valid delivery outcomes from the Kafka table into alert_deliveries.
CREATE MATERIALIZED VIEW IF NOT EXISTS crypto.mv_alert_deliveries TO crypto.alert_deliveries AS
WITH crypto_parse_coins_alerts_deliveries(message) AS m
SELECT
    m.alert_id AS alert_id,
    m.webhook AS webhook,
    m.rule_id AS rule_id,
    m.coin AS coin,
    m.webhook_kind AS webhook_kind,
    m.status AS status,
    m.attempts AS attempts,
    m.http_status AS http_status,
    m.reason AS reason,
    fromUnixTimestamp64Milli(m.event_time_ms, 'UTC') AS event_time,
    fromUnixTimestamp64Milli(m.finished_at_ms, 'UTC') AS finished_at,
    _partition AS kafka_partition,
    _offset AS kafka_offset
FROM crypto.kafka_coins_alerts_deliveries
WHERE _error = '' AND m.alert_id != '' AND m.webhook != '' AND m.finished_at_ms > 0;
