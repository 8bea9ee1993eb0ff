-- Moves valid transactions from the Kafka table into portfolio_transactions: epoch milliseconds converted explicitly, the decimal-string quantity read exactly into a Decimal.
CREATE MATERIALIZED VIEW IF NOT EXISTS crypto.mv_portfolio_transactions TO crypto.portfolio_transactions AS
SELECT
    portfolio,
    transaction_id,
    kind,
    code,
    currency,
    fromUnixTimestamp64Milli(timestamp_ms, 'UTC') AS ts,
    assumeNotNull(toDecimal128OrNull(message.quantity, 18)) AS quantity,
    price,
    fee,
    deleted,
    toUInt64(version_ms) AS version_ms,
    schema_version,
    _partition AS kafka_partition,
    _offset AS kafka_offset,
    now64(3, 'UTC') AS ingested_at
FROM crypto.kafka_portfolio_transactions AS message
-- qualified names: the SELECT aliases shadow the raw columns
WHERE message._error = ''
    AND message.portfolio != '' AND message.transaction_id != '' AND message.code != ''
    AND message.kind IN ('buy', 'sell', 'transfer_in', 'transfer_out')
    AND message.timestamp_ms >= 1230940800000 AND message.timestamp_ms < 4102444800000 AND message.version_ms > 0
    AND toDecimal128OrNull(message.quantity, 18) > 0
    AND (message.price IS NULL OR (isFinite(message.price) AND message.price > 0))
    AND isFinite(message.fee) AND message.fee >= 0
    AND message.deleted IN (0, 1);
