-- Kafka consumer of ksqlDB's 1-minute tumbling OHLC (topic setting COINS_TOPIC_OHLC_MINUTE, contracts/coins_ohlc_minute.schema.json); topic, broker list and group come from named collection kafka_coins_ohlc_minute.
CREATE TABLE IF NOT EXISTS crypto.kafka_coins_ohlc_minute
(
    -- each message's text as it arrived (JSONAsString), so a rejected one is kept byte for byte;
    -- the views read the fields with crypto_parse_coins_ohlc_minute (19x)
    message String
)
ENGINE = Kafka(kafka_coins_ohlc_minute)
SETTINGS
    kafka_format = 'JSONAsString',
    kafka_handle_error_mode = 'stream',
    kafka_flush_interval_ms = 250,
    kafka_poll_timeout_ms = 100,
    kafka_consumer_reschedule_ms = 100;
