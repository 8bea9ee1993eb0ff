-- Kafka consumer of the delivery outcomes, one per alert and webhook (topic setting COINS_ALERTS_TOPIC_DELIVERIES, contracts/coins_alerts_deliveries.schema.json); topic, broker list and group come from named collection kafka_coins_alerts_deliveries.
CREATE TABLE IF NOT EXISTS crypto.kafka_coins_alerts_deliveries
(
    -- each message's text as it arrived (JSONAsString), so a rejected one is kept byte for byte;
    -- the views read the fields with crypto_parse_coins_alerts_deliveries (19x)
    message String
)
ENGINE = Kafka(kafka_coins_alerts_deliveries)
SETTINGS
    kafka_format = 'JSONAsString',
    kafka_handle_error_mode = 'stream',
    kafka_flush_interval_ms = 500;
