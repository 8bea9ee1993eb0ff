-- The typed fields of a message of topic coins_alerts_deliveries (alert delivery outcomes, contracts/coins_alerts_deliveries.schema.json): the column set of the topic, read from the
-- message text exactly as it arrived (crypto_json_document); a field that is missing or does not convert takes its type's default (NULL when Nullable).
CREATE FUNCTION IF NOT EXISTS crypto_parse_coins_alerts_deliveries AS (message) -> JSONExtract(crypto_json_document(message), 'Tuple(
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
    )');
