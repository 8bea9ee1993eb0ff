-- Live holdings per portfolio and coin: quantity held now, the latest price (the newest live tick, or history point when newer or the only one), value now and its share of the portfolio's value (allocation).
CREATE VIEW IF NOT EXISTS crypto.portfolio_allocation AS
WITH
    held AS
    (
        SELECT portfolio, code, sum(signed_quantity) AS quantity
        FROM crypto.portfolio_transactions_current
        GROUP BY portfolio, code
        HAVING quantity != 0
    ),
    latest_price AS
    (
        SELECT code, argMax(rate, price_ts) AS price, max(price_ts) AS price_at
        FROM
        (
            SELECT code, last_tick_at AS price_ts, rate
            FROM crypto.coin_overview
            WHERE code IN (SELECT code FROM held)
            UNION ALL
            SELECT code, max(ts) AS price_ts, argMax(rate, ts) AS rate
            FROM crypto.coins_history
            WHERE code IN (SELECT code FROM held)
            GROUP BY code
        )
        GROUP BY code
    )
SELECT
    held.portfolio AS portfolio,
    held.code AS code,
    held.quantity AS quantity,
    if(latest_price.price_at > toDateTime64(0, 3, 'UTC'), toNullable(latest_price.price), NULL) AS price,
    if(latest_price.price_at > toDateTime64(0, 3, 'UTC'), toNullable(latest_price.price_at), NULL) AS price_at,
    toFloat64(held.quantity) * price AS value,
    -- NULL while any coin of the portfolio has no price yet
    if(count(value) OVER portfolio_coins = count() OVER portfolio_coins,
       value / sum(value) OVER portfolio_coins * 100, NULL) AS allocation_pct
FROM held
LEFT JOIN latest_price ON latest_price.code = held.code
WINDOW portfolio_coins AS (PARTITION BY held.portfolio);
