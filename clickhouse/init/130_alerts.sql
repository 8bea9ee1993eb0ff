-- Alerts from coins_alerts, one row per alert id: the sort key holds the id (stable across restarts), so an at-least-once duplicate collapses on merge and readers use FINAL.
CREATE TABLE IF NOT EXISTS crypto.alerts
(
    rule_id LowCardinality(String),
    coin LowCardinality(String),
    event_time DateTime64(3, 'UTC'),
    alert_id String,
    rule_kind LowCardinality(String),
    rules_version UInt32,
    fired_at DateTime64(3, 'UTC'),
    summary String,
    `values` Map(LowCardinality(String), Float64),
    source LowCardinality(String),
    kafka_partition UInt64,
    kafka_offset UInt64,
    ingested_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(event_time)
ORDER BY (rule_id, coin, event_time, alert_id);
