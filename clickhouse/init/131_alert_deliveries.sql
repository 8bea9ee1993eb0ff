-- Delivery outcome per alert and webhook from coins_alerts_deliveries; a redelivery after a restart replaces the earlier row (latest finished_at wins on merge, readers use FINAL).
CREATE TABLE IF NOT EXISTS crypto.alert_deliveries
(
    alert_id String,
    webhook LowCardinality(String),
    rule_id LowCardinality(String),
    coin LowCardinality(String),
    webhook_kind LowCardinality(String),
    status LowCardinality(String),
    attempts UInt32,
    http_status Nullable(UInt16),
    reason String,
    event_time DateTime64(3, 'UTC'),
    finished_at DateTime64(3, 'UTC'),
    kafka_partition UInt64,
    kafka_offset UInt64
)
ENGINE = ReplacingMergeTree(finished_at)
PARTITION BY toYYYYMM(event_time)
ORDER BY (alert_id, webhook);
