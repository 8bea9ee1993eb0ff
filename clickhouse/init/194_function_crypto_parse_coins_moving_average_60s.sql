-- The typed fields of a message of topic coins_moving_average_60s (ksqlDB 60 s moving-average updates, contracts/coins_moving_average_60s.schema.json): the column set of the topic, read from the
-- message text exactly as it arrived (crypto_json_document); a field that is missing or does not convert takes its type's default (NULL when Nullable).
CREATE FUNCTION IF NOT EXISTS crypto_parse_coins_moving_average_60s AS (message) -> JSONExtract(crypto_json_document(message), 'Tuple(
        code String,
        window_start_ms Int64,
        window_end_ms Int64,
        moving_average Float64,
        tick_count Int64
    )');
