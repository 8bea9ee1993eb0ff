-- The typed fields of a message of topic coins_alerts (alerts, contracts/coins_alerts.schema.json): the column set of the topic, read from the
-- message text exactly as it arrived (crypto_json_document); a field that is missing or does not convert takes its type's default (NULL when Nullable).
CREATE FUNCTION IF NOT EXISTS crypto_parse_coins_alerts AS (message) -> JSONExtract(crypto_json_document(message), 'Tuple(
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
    )');
