-- Routes messages of topic portfolio_transactions that could not be read or break the contract into ingest_errors, with the message
-- exactly as it arrived: the Kafka table keeps every message's text (JSONAsString), and the engine's _raw_message holds the bytes of
-- one it could not even frame as JSON (it fills _raw_message only on a parse error: src/Storages/Kafka/KafkaSource.cpp).
CREATE MATERIALIZED VIEW IF NOT EXISTS crypto.mv_errors_portfolio_transactions TO crypto.ingest_errors AS
WITH
    crypto_parse_portfolio_transactions(message) AS m,
    crypto_message_error(_error, message, if(
        m.portfolio != '' AND m.transaction_id != '' AND m.code != ''
            AND m.kind IN ('buy', 'sell', 'transfer_in', 'transfer_out')
            AND m.timestamp_ms >= 1230940800000 AND m.timestamp_ms < 4102444800000 AND m.version_ms > 0
            AND toDecimal128OrNull(m.quantity, 18) > 0
            AND (m.price IS NULL OR (isFinite(m.price) AND m.price > 0))
            AND isFinite(m.fee) AND m.fee >= 0
            AND m.deleted IN (0, 1),
        '',
        'rejected: portfolio, transaction_id, code, a known kind, timestamp_ms (epoch ms, 2009-2100), version_ms, a positive decimal quantity, a positive or null price and a fee >= 0 are required'
    )) AS error_text
SELECT
    now64(3, 'UTC') AS received_at,
    _topic AS topic,
    _partition AS kafka_partition,
    _offset AS kafka_offset,
    _key AS kafka_key,
    error_text AS error,
    if(_error != '', _raw_message, message) AS raw_message
FROM crypto.kafka_portfolio_transactions
WHERE error_text != '';
