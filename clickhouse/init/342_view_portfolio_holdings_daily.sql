-- Quantity held per portfolio, coin and UTC day (transactions up to that day's 12:00 UTC close, read from portfolio_transactions_priced_snapshot like every figure built on it, so holdings and cash flows come from the same refresh), from the coin's first transaction to today, with the daily close and the value at it (NULL when the coin has no close that day and is held).
CREATE VIEW IF NOT EXISTS crypto.portfolio_holdings_daily AS
WITH
    changes AS
    (
        SELECT portfolio, code, effective_day AS day, sum(signed_quantity) AS quantity_change
        FROM crypto.portfolio_transactions_priced_snapshot
        GROUP BY portfolio, code, effective_day
    ),
    grid AS
    (
        -- every day from the coin's first change to today (a transaction after today's noon
        -- counts from tomorrow, and tomorrow has no close yet)
        SELECT portfolio, code, arrayJoin(range(toUInt32(min(day)), toUInt32(greatest(toDate(now(), 'UTC'), min(day))) + 1)) AS day_number
        FROM changes
        GROUP BY portfolio, code
    ),
    held AS
    (
        SELECT
            grid.portfolio AS portfolio,
            grid.code AS code,
            toDate(grid.day_number) AS day,
            sum(changes.quantity_change) OVER (PARTITION BY grid.portfolio, grid.code ORDER BY grid.day_number ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS quantity
        FROM grid
        LEFT JOIN changes ON changes.portfolio = grid.portfolio AND changes.code = grid.code AND changes.day = toDate(grid.day_number)
    )
SELECT
    held.portfolio AS portfolio,
    held.code AS code,
    held.day AS day,
    held.quantity AS quantity,
    -- a LEFT JOIN without a match leaves defaults: has_close tells a missing close from 0
    if(closes.has_close = 1, toNullable(closes.close), NULL) AS close,
    if(held.quantity = 0, toNullable(0.), toFloat64(held.quantity) * close) AS value
FROM held
LEFT JOIN
(
    SELECT code, day, close, toUInt8(1) AS has_close
    FROM crypto.daily_close
    WHERE code IN (SELECT code FROM changes) AND day >= (SELECT min(day) FROM changes)
) AS closes ON closes.code = held.code AND closes.day = held.day;
