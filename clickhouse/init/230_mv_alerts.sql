-- Moves valid alerts from the Kafka table into alerts, converting epoch milliseconds explicitly (an integer in a DateTime64 column would be read as seconds).
CREATE MATERIALIZED VIEW IF NOT EXISTS crypto.mv_alerts TO crypto.alerts AS
WITH crypto_parse_coins_alerts(message) AS m
SELECT
    m.rule_id AS rule_id,
    m.coin AS coin,
    fromUnixTimestamp64Milli(m.event_time_ms, 'UTC') AS event_time,
    m.alert_id AS alert_id,
    m.rule_kind AS rule_kind,
    m.rules_version AS rules_version,
    fromUnixTimestamp64Milli(m.fired_at_ms, 'UTC') AS fired_at,
    m.summary AS summary,
    m.`values` AS `values`,
    m.source AS source,
    _partition AS kafka_partition,
    _offset AS kafka_offset,
    now64(3, 'UTC') AS ingested_at
FROM crypto.kafka_coins_alerts
WHERE _error = '' AND m.alert_id != '' AND m.rule_id != '' AND m.event_time_ms > 0;
