-- Routes messages of topic coins_alerts_deliveries that could not be read or lack required fields into ingest_errors, with the message
-- exactly as it arrived: the Kafka table keeps every message's text (JSONAsString), and the engine's _raw_message holds the bytes of
-- one it could not even frame as JSON (it fills _raw_message only on a parse error: src/Storages/Kafka/KafkaSource.cpp).
CREATE MATERIALIZED VIEW IF NOT EXISTS crypto.mv_errors_coins_alerts_deliveries TO crypto.ingest_errors AS
WITH
    crypto_parse_coins_alerts_deliveries(message) AS m,
    crypto_message_error(_error, message, if(
        m.alert_id != '' AND m.webhook != '' AND m.finished_at_ms > 0,
        '', 'rejected: alert_id, webhook and finished_at_ms are required')) AS error_text
SELECT
    now64(3, 'UTC') AS received_at,
    _topic AS topic,
    _partition AS kafka_partition,
    _offset AS kafka_offset,
    _key AS kafka_key,
    error_text AS error,
    if(_error != '', _raw_message, message) AS raw_message
FROM crypto.kafka_coins_alerts_deliveries
WHERE error_text != '';
