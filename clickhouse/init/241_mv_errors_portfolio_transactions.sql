-- Routes messages of topic portfolio_transactions that could not be parsed (_error) or break the contract into ingest_errors, so ingestion never stops on a bad message.
CREATE MATERIALIZED VIEW IF NOT EXISTS crypto.mv_errors_portfolio_transactions TO crypto.ingest_errors AS
SELECT
    now64(3, 'UTC') AS received_at,
    _topic AS topic,
    _partition AS kafka_partition,
    _offset AS kafka_offset,
    _key AS kafka_key,
    if(_error != '', _error,
       'rejected: portfolio, transaction_id, code, a known kind, timestamp_ms (epoch ms, 2009-2100), version_ms, a positive decimal quantity, a positive or null price and a fee >= 0 are required') AS error,
    if(_error != '', _raw_message,
       formatRowNoNewline('JSONEachRow', portfolio, transaction_id, kind, code, timestamp_ms, quantity, price, fee, deleted, version_ms)) AS raw_message
FROM crypto.kafka_portfolio_transactions
WHERE _error != '' OR NOT (
    portfolio != '' AND transaction_id != '' AND code != ''
    AND kind IN ('buy', 'sell', 'transfer_in', 'transfer_out')
    AND timestamp_ms >= 1230940800000 AND timestamp_ms < 4102444800000 AND version_ms > 0
    AND toDecimal128OrNull(quantity, 18) > 0
    AND (price IS NULL OR (isFinite(price) AND price > 0))
    AND isFinite(fee) AND fee >= 0
    AND deleted IN (0, 1));
