-- Kafka consumer of topic coins_current_full (live ticks, contracts/coins_current_full.schema.json); broker list and group come from named collection kafka_coins_current_full.
CREATE TABLE IF NOT EXISTS crypto.kafka_coins_current_full
(
    -- each message's text as it arrived (JSONAsString), so a rejected one is kept byte for byte;
    -- the views read the fields with crypto_parse_coins_current_full (19x)
    message String
)
ENGINE = Kafka(kafka_coins_current_full)
SETTINGS
    kafka_topic_list = 'coins_current_full',
    kafka_format = 'JSONAsString',
    kafka_handle_error_mode = 'stream',
    kafka_flush_interval_ms = 250,
    kafka_poll_timeout_ms = 100,
    kafka_consumer_reschedule_ms = 100;
