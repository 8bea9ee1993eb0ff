-- Kafka consumer of the compacted topic portfolio_transactions (contracts/portfolio_transactions.schema.json, key portfolio/transaction id); broker list and group come from named collection kafka_portfolio_transactions.
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
    kafka_topic_list = 'portfolio_transactions',
    kafka_format = 'JSONEachRow',
    kafka_handle_error_mode = 'stream',
    kafka_flush_interval_ms = 1000;
