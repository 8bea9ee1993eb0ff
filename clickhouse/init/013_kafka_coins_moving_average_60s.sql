-- Kafka consumer of ksqlDB's 60 s hopping average (topic setting COINS_TOPIC_MOVING_AVERAGE_60S, contracts/coins_moving_average_60s.schema.json); topic, broker list and group come from named collection kafka_coins_moving_average_60s.
CREATE TABLE IF NOT EXISTS crypto.kafka_coins_moving_average_60s
(
    code String,
    window_start_ms Int64,
    window_end_ms Int64,
    moving_average Float64,
    tick_count Int64
)
ENGINE = Kafka(kafka_coins_moving_average_60s)
SETTINGS
    kafka_format = 'JSONEachRow',
    kafka_handle_error_mode = 'stream',
    kafka_flush_interval_ms = 250,
    kafka_poll_timeout_ms = 100,
    kafka_consumer_reschedule_ms = 100;
