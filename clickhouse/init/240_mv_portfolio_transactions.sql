-- Moves valid transactions from the Kafka table into portfolio_transactions: epoch milliseconds converted explicitly, the decimal-string quantity read exactly into a Decimal.
CREATE MATERIALIZED VIEW IF NOT EXISTS crypto.mv_portfolio_transactions TO crypto.portfolio_transactions AS
WITH crypto_parse_portfolio_transactions(message) AS m
SELECT
    m.portfolio AS portfolio,
    m.transaction_id AS transaction_id,
    m.kind AS kind,
    m.code AS code,
    m.currency AS currency,
    fromUnixTimestamp64Milli(m.timestamp_ms, 'UTC') AS ts,
    assumeNotNull(toDecimal128OrNull(m.quantity, 18)) AS quantity,
    m.price AS price,
    m.fee AS fee,
    m.deleted AS deleted,
    toUInt64(m.version_ms) AS version_ms,
    m.schema_version AS schema_version,
    _partition AS kafka_partition,
    _offset AS kafka_offset,
    now64(3, 'UTC') AS ingested_at
FROM crypto.kafka_portfolio_transactions
-- m: the message's fields, read from its text as it arrived (19x)
WHERE _error = ''
    AND m.portfolio != '' AND m.transaction_id != '' AND m.code != ''
    AND m.kind IN ('buy', 'sell', 'transfer_in', 'transfer_out')
    AND m.timestamp_ms >= 1230940800000 AND m.timestamp_ms < 4102444800000 AND m.version_ms > 0
    AND toDecimal128OrNull(m.quantity, 18) > 0
    AND (m.price IS NULL OR (isFinite(m.price) AND m.price > 0))
    AND isFinite(m.fee) AND m.fee >= 0
    AND m.deleted IN (0, 1);
