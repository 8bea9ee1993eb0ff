-- Every current transaction with its price resolved ("market" = the rate of the coin's last history point or live tick at or before the transaction, at most 7 days older; else NULL), its cash flow into the portfolio, and the BTC price at that moment.
CREATE VIEW IF NOT EXISTS crypto.portfolio_transactions_priced AS
WITH
    transactions AS (SELECT * FROM crypto.portfolio_transactions_current),
    wanted AS
    (
        -- every (coin, time) that needs a price: the transaction's coin, and BTC at the same
        -- time (the "BTC only" comparison)
        SELECT DISTINCT code, ts
        FROM (SELECT code, ts FROM transactions UNION ALL SELECT 'BTC' AS code, ts FROM transactions)
    ),
    near AS
    (
        -- candidates for "the last observation at or before", each read by primary key so the
        -- cost follows the transactions, not the ticks stored: history points (a small table),
        -- the live ticks of each wanted hour (the highest rate at a shared time, as every
        -- reader) and the last live tick of every day (day rollup)
        SELECT code, ts, rate
        FROM crypto.coins_history
        WHERE code IN (SELECT code FROM wanted) AND ts >= (SELECT min(ts) FROM wanted) - INTERVAL 7 DAY
        UNION ALL
        SELECT code, ts, max(rate) AS rate
        FROM crypto.coins_ticks
        WHERE (code, toStartOfHour(ts)) IN (SELECT code, toStartOfHour(ts) FROM wanted)
        GROUP BY code, ts
        UNION ALL
        SELECT code, max(last_tick_at) AS ts, argMaxMerge(close) AS rate
        FROM crypto.rollup_ohlc_day
        WHERE code IN (SELECT code FROM wanted) AND day >= toDate((SELECT min(ts) FROM wanted)) - 7
        GROUP BY code, day
    ),
    first_pass AS
    (
        SELECT w.code AS code, w.ts AS ts, o.ts AS observed_at
        FROM wanted AS w
        ASOF LEFT JOIN near AS o ON o.code = w.code AND w.ts >= o.ts
    ),
    earlier_today AS
    (
        -- only where nothing was found in the wanted hour (a stream stopped for over an hour):
        -- the last tick of every minute of that day may be the one (minute rollup; its bitmap
        -- holds each tick's millisecond offset in the minute)
        SELECT code,
            toDateTime64(minute, 3, 'UTC') + toIntervalMillisecond(bitmapMax(groupBitmapMergeState(tick_offsets))) AS ts,
            argMaxMerge(close) AS rate
        FROM crypto.rollup_ohlc_minute
        WHERE (code, toDate(minute)) IN (SELECT code, toDate(ts) FROM first_pass WHERE observed_at < toStartOfHour(ts))
        GROUP BY code, minute
    ),
    resolved AS
    (
        -- one row per wanted time with every wanted coin's observation, so the pricing runs
        -- once for the transaction's coin and BTC together
        SELECT w.ts AS ts, groupArray((w.code, o.ts, o.rate)) AS observations
        FROM wanted AS w
        ASOF LEFT JOIN (SELECT * FROM near UNION ALL SELECT * FROM earlier_today) AS o
            ON o.code = w.code AND w.ts >= o.ts
        GROUP BY w.ts
    )
SELECT
    portfolio,
    transaction_id,
    kind,
    code,
    ts,
    effective_day,
    quantity,
    signed_quantity,
    fee,
    if(price IS NULL, 'market', 'given') AS price_source,
    -- an ASOF LEFT JOIN without a match leaves defaults: an observation older than 7 days,
    -- or none, gives no price
    if(price IS NULL, if(market.2 >= ts - INTERVAL 7 DAY, toNullable(market.3), NULL), price) AS resolved_price,
    -- money into the portfolio (buys, transfers in) is positive, out of it negative; fees always cost
    if(kind IN ('buy', 'transfer_in'),
       toFloat64(quantity) * resolved_price + fee,
       -(toFloat64(quantity) * resolved_price - fee)) AS cash_flow,
    if(btc.2 >= ts - INTERVAL 7 DAY, toNullable(btc.3), NULL) AS btc_price
FROM
(
    SELECT
        t.*,
        arrayFirst(x -> x.1 = t.code, r.observations) AS market,
        arrayFirst(x -> x.1 = 'BTC', r.observations) AS btc
    FROM transactions AS t
    LEFT JOIN resolved AS r ON r.ts = t.ts
);
