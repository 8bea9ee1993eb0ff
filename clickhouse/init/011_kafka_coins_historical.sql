-- Kafka consumer of the backfill points (topic setting COINS_TOPIC_HISTORICAL, contracts/coins_historical.schema.json); topic, broker list and group come from named collection kafka_coins_historical.
CREATE TABLE IF NOT EXISTS crypto.kafka_coins_historical
(
    schema_version UInt16,
    source String,
    code String,
    currency String,
    timestamp_ms Int64,
    rate Nullable(Float64),
    volume Nullable(Float64),
    cap Nullable(Float64),
    liquidity Nullable(Float64)
)
ENGINE = Kafka(kafka_coins_historical)
SETTINGS
    kafka_format = 'JSONEachRow',
    kafka_handle_error_mode = 'stream',
    kafka_flush_interval_ms = 1000;
