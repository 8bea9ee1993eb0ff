-- The portfolio against holding BTC only, per daily close: btc_only_value = value of the BTC the same cash flows would have bought or sold at the BTC price of each transaction's time; growth indexes of the portfolio (time-weighted) and of BTC (close / close on the portfolio's first valued day).
CREATE VIEW IF NOT EXISTS crypto.portfolio_vs_btc AS
WITH
    units AS
    (
        SELECT
            portfolio,
            effective_day AS day,
            if(countIf(cash_flow IS NULL OR btc_price IS NULL) > 0, NULL, sum(cash_flow / btc_price)) AS btc_units_change,
            count() AS transactions
        FROM crypto.portfolio_transactions_priced_snapshot
        GROUP BY portfolio, effective_day
    ),
    btc AS
    (
        SELECT day, close, toUInt8(1) AS has_close
        FROM crypto.daily_close
        WHERE code = 'BTC'
    ),
    running AS
    (
        -- BTC units held after each day with transactions (NULL-propagating via a counter)
        SELECT
            portfolio,
            day,
            sum(ifNull(btc_units_change, 0.)) OVER by_day AS btc_units,
            sum(toUInt32(btc_units_change IS NULL)) OVER by_day AS unknown_changes
        FROM units
        WINDOW by_day AS (PARTITION BY portfolio ORDER BY day ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
    )
SELECT
    returns.portfolio AS portfolio,
    returns.day AS day,
    returns.value AS value,
    -- the BTC held at a close: after the last day with transactions at or before it
    if(running.unknown_changes = 0 AND btc.has_close = 1, toNullable(running.btc_units * btc.close), NULL) AS btc_only_value,
    returns.growth_index AS growth_index,
    if(btc.has_close = 1 AND first_btc.has_close = 1, toNullable(btc.close / first_btc.close), NULL) AS btc_index
FROM
(
    SELECT portfolio, day, value, growth_index, min(day) OVER (PARTITION BY portfolio) AS first_valued_day
    FROM crypto.portfolio_returns_daily
) AS returns
ASOF LEFT JOIN running ON running.portfolio = returns.portfolio AND returns.day >= running.day
LEFT JOIN btc ON btc.day = returns.day
LEFT JOIN btc AS first_btc ON first_btc.day = returns.first_valued_day;
