-- Kafka consumer of the compacted topic portfolio_transactions (contracts/portfolio_transactions.schema.json, key portfolio/transaction id); broker list and group come from named collection kafka_portfolio_transactions.
CREATE TABLE IF NOT EXISTS crypto.kafka_portfolio_transactions
(
    -- each message's text as it arrived (JSONAsString), so a rejected one is kept byte for byte;
    -- the views read the fields with crypto_parse_portfolio_transactions (19x)
    message String
)
ENGINE = Kafka(kafka_portfolio_transactions)
SETTINGS
    kafka_topic_list = 'portfolio_transactions',
    kafka_format = 'JSONAsString',
    kafka_handle_error_mode = 'stream',
    kafka_flush_interval_ms = 1000;
