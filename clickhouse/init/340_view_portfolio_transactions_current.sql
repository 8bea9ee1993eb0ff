-- The transactions as the file says now: per (portfolio, transaction_id) the highest version_ms (then Kafka offset), without deleted lines; effective_day = the first daily close (12:00 UTC) the transaction counts in.
CREATE VIEW IF NOT EXISTS crypto.portfolio_transactions_current AS
SELECT
    portfolio,
    transaction_id,
    latest.1 AS kind,
    latest.2 AS code,
    latest.3 AS currency,
    latest.4 AS ts,
    latest.5 AS quantity,
    if(kind IN ('sell', 'transfer_out'), -quantity, quantity) AS signed_quantity,
    latest.6 AS price,
    latest.7 AS fee,
    -- at or before 12:00:00.000 counts in that day's close, later in the next day's
    if(toUnixTimestamp64Milli(ts) % 86400000 <= 43200000, toDate(ts), toDate(ts) + 1) AS effective_day
FROM
(
    SELECT
        portfolio,
        transaction_id,
        argMax(tuple(kind, code, currency, ts, quantity, price, fee, deleted), (version_ms, kafka_offset)) AS latest
    FROM crypto.portfolio_transactions
    GROUP BY portfolio, transaction_id
)
WHERE latest.8 = 0;
