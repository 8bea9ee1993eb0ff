-- The typed fields of a message of topic portfolio_transactions (portfolio transactions, contracts/portfolio_transactions.schema.json): the column set of the topic, read from the
-- message text exactly as it arrived (crypto_json_document); a field that is missing or does not convert takes its type's default (NULL when Nullable).
CREATE FUNCTION IF NOT EXISTS crypto_parse_portfolio_transactions AS (message) -> JSONExtract(crypto_json_document(message), 'Tuple(
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
    )');
