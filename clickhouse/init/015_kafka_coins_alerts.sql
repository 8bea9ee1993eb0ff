-- Kafka consumer of the alerts of `coins alerts` (topic setting COINS_ALERTS_TOPIC_ALERTS, contracts/coins_alerts.schema.json); topic, broker list and group come from named collection kafka_coins_alerts.
CREATE TABLE IF NOT EXISTS crypto.kafka_coins_alerts
(
    -- each message's text as it arrived (JSONAsString), so a rejected one is kept byte for byte;
    -- the views read the fields with crypto_parse_coins_alerts (19x)
    message String
)
ENGINE = Kafka(kafka_coins_alerts)
SETTINGS
    kafka_format = 'JSONAsString',
    kafka_handle_error_mode = 'stream',
    kafka_flush_interval_ms = 500;
