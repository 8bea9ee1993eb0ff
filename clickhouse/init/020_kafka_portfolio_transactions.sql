-- Kafka consumer of the compacted portfolio topic (topic setting COINS_TOPIC_PORTFOLIO, contracts/portfolio_transactions.schema.json, key portfolio/transaction id); topic, broker list and group come from named collection kafka_portfolio_transactions.
CREATE TABLE IF NOT EXISTS crypto.kafka_portfolio_transactions
(
    -- each message's text as it arrived (JSONAsString), so a rejected one is kept byte for byte;
    -- the views read the fields with crypto_parse_portfolio_transactions (19x)
    message String
)
ENGINE = Kafka(kafka_portfolio_transactions)
SETTINGS
    kafka_format = 'JSONAsString',
    kafka_handle_error_mode = 'stream',
    kafka_flush_interval_ms = 1000;
