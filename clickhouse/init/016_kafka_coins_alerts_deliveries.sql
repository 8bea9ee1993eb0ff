-- Kafka consumer of the delivery outcomes, one per alert and webhook (topic setting COINS_ALERTS_TOPIC_DELIVERIES, contracts/coins_alerts_deliveries.schema.json); topic, broker list and group come from named collection kafka_coins_alerts_deliveries.
CREATE TABLE IF NOT EXISTS crypto.kafka_coins_alerts_deliveries
(
    schema_version UInt16,
    alert_id String,
    rule_id String,
    coin String,
    webhook String,
    webhook_kind String,
    status String,
    attempts UInt32,
    http_status Nullable(UInt16),
    reason String,
    event_time_ms Int64,
    finished_at_ms Int64
)
ENGINE = Kafka(kafka_coins_alerts_deliveries)
SETTINGS
    kafka_format = 'JSONEachRow',
    kafka_handle_error_mode = 'stream',
    kafka_flush_interval_ms = 500;
