-- Kafka consumer of ksqlDB's 60 s hopping average (topic setting COINS_TOPIC_MOVING_AVERAGE_60S, contracts/coins_moving_average_60s.schema.json); topic, broker list and group come from named collection kafka_coins_moving_average_60s.
CREATE TABLE IF NOT EXISTS crypto.kafka_coins_moving_average_60s
(
    -- each message's text as it arrived (JSONAsString), so a rejected one is kept byte for byte;
    -- the views read the fields with crypto_parse_coins_moving_average_60s (19x)
    message String
)
ENGINE = Kafka(kafka_coins_moving_average_60s)
SETTINGS
    kafka_format = 'JSONAsString',
    kafka_handle_error_mode = 'stream',
    kafka_flush_interval_ms = 250,
    kafka_poll_timeout_ms = 100,
    kafka_consumer_reschedule_ms = 100;
