-- The typed fields of a message of topic coins_historical (history points, contracts/coins_historical.schema.json): the column set of the topic, read from the
-- message text exactly as it arrived (crypto_json_document); a field that is missing or does not convert takes its type's default (NULL when Nullable).
CREATE FUNCTION IF NOT EXISTS crypto_parse_coins_historical AS (message) -> JSONExtract(crypto_json_document(message), 'Tuple(
        schema_version UInt16,
        source String,
        code String,
        currency String,
        timestamp_ms Int64,
        rate Nullable(Float64),
        volume Nullable(Float64),
        cap Nullable(Float64),
        liquidity Nullable(Float64)
    )');
