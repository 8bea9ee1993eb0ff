-- Kafka consumer of ksqlDB's 1-minute tumbling OHLC (topic setting COINS_TOPIC_OHLC_MINUTE, contracts/coins_ohlc_minute.schema.json); topic, broker list and group come from named collection kafka_coins_ohlc_minute.
CREATE TABLE IF NOT EXISTS crypto.kafka_coins_ohlc_minute
(
    code String,
    window_start_ms Int64,
    window_end_ms Int64,
    open Float64,
    high Float64,
    low Float64,
    close Float64,
    tick_count Int64
)
ENGINE = Kafka(kafka_coins_ohlc_minute)
SETTINGS
    kafka_format = 'JSONEachRow',
    kafka_handle_error_mode = 'stream',
    kafka_flush_interval_ms = 250,
    kafka_poll_timeout_ms = 100,
    kafka_consumer_reschedule_ms = 100;
