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
        FROM crypto.portfolio_transactions_priced
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
        SELECT
            value_daily.portfolio AS portfolio,
            value_daily.day AS day,
            value_daily.value AS value,
            sum(if(units.transactions = 0, 0., ifNull(units.btc_units_change, 0.))) OVER every_day AS btc_units,
            sum(toUInt32(units.transactions > 0 AND units.btc_units_change IS NULL)) OVER every_day AS unknown_changes
        FROM crypto.portfolio_value_daily AS value_daily
        LEFT JOIN units ON units.portfolio = value_daily.portfolio AND units.day = value_daily.day
        WINDOW every_day AS (PARTITION BY value_daily.portfolio ORDER BY value_daily.day ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
    )
SELECT
    running.portfolio AS portfolio,
    running.day AS day,
    running.value AS value,
    if(running.unknown_changes = 0 AND btc.has_close = 1, toNullable(running.btc_units * btc.close), NULL) AS btc_only_value,
    returns.growth_index AS growth_index,
    if(btc.has_close = 1 AND first_btc.has_close = 1, toNullable(btc.close / first_btc.close), NULL) AS btc_index
FROM running
INNER JOIN
(
    SELECT portfolio, day, growth_index, min(day) OVER (PARTITION BY portfolio) AS first_valued_day
    FROM crypto.portfolio_returns_daily
) AS returns ON returns.portfolio = running.portfolio AND returns.day = running.day
LEFT JOIN btc ON btc.day = running.day
LEFT JOIN btc AS first_btc ON first_btc.day = returns.first_valued_day;
