-- Kafka consumer of the live ticks (topic setting COINS_TOPIC_CURRENT, contracts/coins_current_full.schema.json); topic, broker list and group come from named collection kafka_coins_current_full.
CREATE TABLE IF NOT EXISTS crypto.kafka_coins_current_full
(
    -- each message's text as it arrived (JSONAsString), so a rejected one is kept byte for byte;
    -- the views read the fields with crypto_parse_coins_current_full (19x)
    message String
)
ENGINE = Kafka(kafka_coins_current_full)
SETTINGS
    kafka_format = 'JSONAsString',
    kafka_handle_error_mode = 'stream',
    kafka_flush_interval_ms = 250,
    kafka_poll_timeout_ms = 100,
    kafka_consumer_reschedule_ms = 100;
