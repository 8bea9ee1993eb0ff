-- Kafka consumer of the alerts of `coins alerts` (topic setting COINS_ALERTS_TOPIC_ALERTS, contracts/coins_alerts.schema.json); topic, broker list and group come from named collection kafka_coins_alerts.
CREATE TABLE IF NOT EXISTS crypto.kafka_coins_alerts
(
    schema_version UInt16,
    alert_id String,
    rule_id String,
    rule_kind String,
    rules_version UInt32,
    coin String,
    event_time_ms Int64,
    fired_at_ms Int64,
    summary String,
    `values` Map(String, Float64),
    source String
)
ENGINE = Kafka(kafka_coins_alerts)
SETTINGS
    kafka_format = 'JSONEachRow',
    kafka_handle_error_mode = 'stream',
    kafka_flush_interval_ms = 500;
