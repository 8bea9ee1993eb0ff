-- Kafka consumer of the backfill points (topic setting COINS_TOPIC_HISTORICAL, contracts/coins_historical.schema.json); topic, broker list and group come from named collection kafka_coins_historical.
CREATE TABLE IF NOT EXISTS crypto.kafka_coins_historical
(
    -- each message's text as it arrived (JSONAsString), so a rejected one is kept byte for byte;
    -- the views read the fields with crypto_parse_coins_historical (19x)
    message String
)
ENGINE = Kafka(kafka_coins_historical)
SETTINGS
    kafka_format = 'JSONAsString',
    kafka_handle_error_mode = 'stream',
    kafka_flush_interval_ms = 1000;
