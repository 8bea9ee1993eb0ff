-- Every current transaction with its price resolved ("market" = the rate of the coin's last history point or live tick at or before the transaction, at most 7 days older; else NULL), its cash flow into the portfolio, and the BTC price at that moment.
CREATE VIEW IF NOT EXISTS crypto.portfolio_transactions_priced AS
WITH
    transactions AS (SELECT * FROM crypto.portfolio_transactions_current),
    wanted AS
    (
        -- the coin of every transaction, and BTC (the "BTC only" comparison) at the same times
        SELECT code, ts FROM transactions
        UNION ALL
        SELECT 'BTC' AS code, ts FROM transactions
    ),
    observations AS
    (
        -- every candidate for "the last observation at or before the transaction", read by
        -- primary key instead of scanning every tick: history points (a small table), the live
        -- ticks of the transactions' own days, and the last live tick of every other day
        SELECT code, ts, rate
        FROM crypto.coins_history
        WHERE code IN (SELECT code FROM wanted) AND ts >= (SELECT min(ts) FROM wanted) - INTERVAL 7 DAY
        UNION ALL
        SELECT code, ts, rate
        FROM crypto.coins_ticks
        WHERE (code, toDate(ts)) IN (SELECT code, toDate(ts) FROM wanted)
        UNION ALL
        SELECT code, max(last_tick_at) AS ts, argMaxMerge(close) AS rate
        FROM crypto.rollup_ohlc_day
        WHERE code IN (SELECT code FROM wanted) AND day >= toDate((SELECT min(ts) FROM wanted)) - 7
        GROUP BY code, day
    ),
    market AS
    (
        SELECT t.portfolio AS portfolio, t.transaction_id AS transaction_id, o.rate AS market_rate, o.ts AS market_ts
        FROM transactions AS t
        ASOF LEFT JOIN observations AS o ON o.code = t.code AND t.ts >= o.ts
    ),
    btc AS
    (
        SELECT t.portfolio AS portfolio, t.transaction_id AS transaction_id,
            if(o.ts >= t.ts - INTERVAL 7 DAY, toNullable(o.rate), NULL) AS btc_rate
        FROM (SELECT portfolio, transaction_id, ts, 'BTC' AS code FROM transactions) AS t
        ASOF LEFT JOIN (SELECT code, ts, rate FROM observations WHERE code = 'BTC') AS o
            ON o.code = t.code AND t.ts >= o.ts
    )
SELECT
    t.portfolio AS portfolio,
    t.transaction_id AS transaction_id,
    t.kind AS kind,
    t.code AS code,
    t.ts AS ts,
    t.effective_day AS effective_day,
    t.quantity AS quantity,
    t.signed_quantity AS signed_quantity,
    t.fee AS fee,
    if(t.price IS NULL, 'market', 'given') AS price_source,
    -- no observation in the 7 days up to the transaction (an ASOF LEFT JOIN without a match
    -- leaves defaults): no market price
    if(t.price IS NULL, if(m.market_ts >= t.ts - INTERVAL 7 DAY, toNullable(m.market_rate), NULL), t.price) AS resolved_price,
    -- money into the portfolio (buys, transfers in) is positive, out of it negative; fees always cost
    if(t.kind IN ('buy', 'transfer_in'),
       toFloat64(t.quantity) * resolved_price + t.fee,
       -(toFloat64(t.quantity) * resolved_price - t.fee)) AS cash_flow,
    b.btc_rate AS btc_price
FROM transactions AS t
LEFT JOIN market AS m ON m.portfolio = t.portfolio AND m.transaction_id = t.transaction_id
LEFT JOIN btc AS b ON b.portfolio = t.portfolio AND b.transaction_id = t.transaction_id;
