-- Kafka consumer of the live ticks (topic setting COINS_TOPIC_CURRENT, contracts/coins_current_full.schema.json); topic, broker list and group come from named collection kafka_coins_current_full.
CREATE TABLE IF NOT EXISTS crypto.kafka_coins_current_full
(
    schema_version UInt16,
    source String,
    code String,
    currency String,
    timestamp_ms Int64,
    rate Nullable(Float64),
    volume Nullable(Float64),
    cap Nullable(Float64),
    liquidity Nullable(Float64),
    delta_hour Nullable(Float64),
    delta_day Nullable(Float64),
    delta_week Nullable(Float64),
    delta_month Nullable(Float64),
    delta_quarter Nullable(Float64),
    delta_year Nullable(Float64),
    name Nullable(String),
    symbol Nullable(String),
    rank Nullable(UInt32),
    age Nullable(UInt32),
    color Nullable(String),
    png32 Nullable(String),
    png64 Nullable(String),
    webp32 Nullable(String),
    webp64 Nullable(String),
    exchanges Nullable(UInt32),
    markets Nullable(UInt32),
    pairs Nullable(UInt32),
    all_time_high_usd Nullable(Float64),
    circulating_supply Nullable(Float64),
    total_supply Nullable(Float64),
    max_supply Nullable(Float64),
    categories Array(String)
)
ENGINE = Kafka(kafka_coins_current_full)
SETTINGS
    kafka_format = 'JSONEachRow',
    kafka_handle_error_mode = 'stream',
    kafka_flush_interval_ms = 250,
    kafka_poll_timeout_ms = 100,
    kafka_consumer_reschedule_ms = 100;
