-- The typed fields of a message of topic coins_ohlc_minute (ksqlDB 1-minute OHLC updates, contracts/coins_ohlc_minute.schema.json): the column set of the topic, read from the
-- message text exactly as it arrived (crypto_json_document); a field that is missing or does not convert takes its type's default (NULL when Nullable).
CREATE FUNCTION IF NOT EXISTS crypto_parse_coins_ohlc_minute AS (message) -> JSONExtract(crypto_json_document(message), 'Tuple(
        code String,
        window_start_ms Int64,
        window_end_ms Int64,
        open Float64,
        high Float64,
        low Float64,
        close Float64,
        tick_count Int64
    )');
