-- Kafka consumer of the compacted portfolio topic (topic setting COINS_TOPIC_PORTFOLIO, contracts/portfolio_transactions.schema.json, key portfolio/transaction id); topic, broker list and group come from named collection kafka_portfolio_transactions.
CREATE TABLE IF NOT EXISTS crypto.kafka_portfolio_transactions
(
    schema_version UInt16,
    portfolio String,
    transaction_id String,
    kind String,
    code String,
    currency String,
    timestamp_ms Int64,
    quantity String,
    price Nullable(Float64),
    fee Float64,
    deleted UInt8,
    version_ms Int64
)
ENGINE = Kafka(kafka_portfolio_transactions)
SETTINGS
    kafka_format = 'JSONEachRow',
    kafka_handle_error_mode = 'stream',
    kafka_flush_interval_ms = 1000;
